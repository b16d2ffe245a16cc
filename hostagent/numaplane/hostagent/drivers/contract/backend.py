"""The backend contract every host backend (sim, linux, libvirt, qmp) fulfils.

A backend is synchronous on purpose: reading sysfs or /proc is blocking file I/O,
and the agent calls backends through `asyncio.to_thread` so that a slow /proc read
never stalls the link's keepalives. Backends return `common` dataclasses only.

Where the vCPUs ran over a report interval (`VmObservation.vcpu_nodes`) comes from one
of two places. A backend that knows it (the simulator) fills `vcpu_nodes` in `observe`.
A backend that reads real threads offers `sample_vcpus`: the CPU each vCPU is on at
this instant, read cheaply, which the agent calls several times per interval from a
worker thread (`numaplane.hostagent.vcpu_sampling`) and merges into the next report's
observation, together with the observation's own `running_cpus`. It may run while
`observe` runs in another thread.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation
from numaplane.hostagent.drivers.contract.balloon import BalloonDriver


@dataclass(frozen=True)
class BackendCapabilities:
    name: str
    balloon: bool = False
    memory_migration: bool = False
    live_migration: bool = False


class Backend(ABC):
    @abstractmethod
    def capabilities(self) -> BackendCapabilities: ...

    @abstractmethod
    def topology(self) -> Topology:
        """The host's NUMA topology (free memory as of now)."""

    @abstractmethod
    def observe(self) -> HostObservation:
        """Free memory per node and every VM, as of now."""

    def sample_vcpus(self) -> Mapping[str, Sequence[int]]:
        """The CPU each vCPU of each VM is on now (or last ran on), by VM name as `observe`
        names it; VMs it cannot say for are left out. Cheap, so that it can be called
        several times per report interval: no memory is read. The default: a backend
        with nothing to sample (its observations carry `vcpu_nodes`, or only
        `running_cpus`)."""
        return {}

    def balloon(self, vm: str) -> BalloonDriver | None:
        """The balloon driver of VM `vm` on this host; None when the VM is not here or has
        no balloon. May do I/O (call it from a worker thread); backends that hold drivers
        close them in `close`. The default: a backend without balloons."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (connections, files)."""
