"""The backend contract every host backend (sim, linux, libvirt, qmp) fulfils.

A backend is synchronous on purpose: reading sysfs or /proc is blocking file I/O,
and the agent calls backends through `asyncio.to_thread` so that a slow /proc read
never stalls the link's keepalives. Backends return `common` dataclasses only.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
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

    def balloon(self, vm: str) -> BalloonDriver | None:
        """The balloon driver of VM `vm` on this host; None when the VM is not here or has
        no balloon. May do I/O (call it from a worker thread); backends that hold drivers
        close them in `close`. The default: a backend without balloons."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release handles (connections, files)."""
