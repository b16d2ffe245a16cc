"""What an agent observes about a VM and a host, as plain immutable data.

These are the agent's words about the world; the controller turns them into
protobuf on the wire and JSON in etcd, and its policies read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from common.locality import locality
from common.topology import Topology


@dataclass(frozen=True)
class BalloonState:
    target_bytes: int
    actual_bytes: int


@dataclass(frozen=True)
class VmObservation:
    id: str
    """Stable on its host (libvirt uuid, pid, sim id)."""
    name: str
    """Cluster-wide name."""
    vcpus: int
    memory_bytes: int
    memory_by_node: Mapping[int, int]
    allowed_cpus: tuple[int, ...]
    """Union of the vCPUs' affinity masks."""
    running_cpus: tuple[int, ...]
    """The CPU each vCPU last ran on, one entry per vCPU."""
    balloon: BalloonState | None = None
    state: str = "running"

    def locality(self, topology: Topology) -> float:
        return locality(self.memory_by_node, topology.nodes_of_cpus(self.running_cpus))


@dataclass(frozen=True)
class HostObservation:
    """One report's worth of a host: free memory per node and every VM."""

    free_by_node: Mapping[int, int]
    vms: tuple[VmObservation, ...] = ()
    observed_at: float = 0.0
    extra: Mapping[str, str] = field(default_factory=dict)
