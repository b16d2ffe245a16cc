"""A simulated VM: its mutable state inside the host, and the frozen snapshot callers get.

Only `SimHost` changes a `SimVm`; everyone else reads `SimVmState`, a copy, so that a
snapshot taken before an operation never changes under its reader.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from numaplane.common.vm import BalloonState, VmObservation
from numaplane.hostagent.drivers.sim.binding import MemoryBinding
from numaplane.hostagent.drivers.sim.guest import GuestMemory


@dataclass
class Migration:
    """Memory of a VM on its way to `to_nodes`, at `bandwidth_bytes_per_s`."""

    to_nodes: frozenset[int]
    bandwidth_bytes_per_s: float
    stalled: bool = False
    """True when the last step could not move anything: the target nodes are full."""


@dataclass
class SimVm:
    id: str
    name: str
    vcpus: int
    allowed_cpus: tuple[int, ...]
    vcpu_cpus: list[int]
    binding: MemoryBinding
    guest: GuestMemory
    started_at: float
    memory_by_node: dict[int, int] = field(default_factory=dict)
    state: str = "running"
    migration: Migration | None = None
    migrated_bytes_total: int = 0
    blocked: bool = False
    """The last touch found no memory it was allowed to take (the host could not back it)."""

    @property
    def resident_bytes(self) -> int:
        return sum(self.memory_by_node.values())

    @property
    def host_swap_bytes(self) -> int:
        """Working set the host failed to back while memory was exhausted."""
        if not self.blocked:
            return 0
        return max(0, self.guest.used_bytes - self.resident_bytes)

    def snapshot(self) -> SimVmState:
        used, cache, free = self.guest.breakdown(self.resident_bytes)
        return SimVmState(
            id=self.id,
            name=self.name,
            state=self.state,
            vcpus=self.vcpus,
            memory_bytes=self.guest.memory_bytes,
            memory_by_node={n: b for n, b in sorted(self.memory_by_node.items()) if b},
            allowed_cpus=self.allowed_cpus,
            vcpu_cpus=tuple(self.vcpu_cpus),
            binding=self.binding,
            balloon_target_bytes=self.guest.target_bytes,
            guest_memory_bytes=self.guest.size_bytes,
            working_set_bytes=self.guest.working_set_bytes,
            guest_used_bytes=used,
            guest_cache_bytes=cache,
            guest_free_bytes=free,
            guest_swap_bytes=self.guest.swap_bytes,
            host_swap_bytes=self.host_swap_bytes,
            blocked=self.blocked,
            swapped_out_total_bytes=self.guest.swapped_out_total_bytes,
            migrating_to=None if self.migration is None else tuple(sorted(self.migration.to_nodes)),
            migration_stalled=self.migration is not None and self.migration.stalled,
            migrated_bytes_total=self.migrated_bytes_total,
            started_at=self.started_at,
            swapped_in_total_bytes=self.guest.swapped_in_total_bytes,
        )


@dataclass(frozen=True)
class SimVmState:
    id: str
    name: str
    state: str
    vcpus: int
    memory_bytes: int
    memory_by_node: Mapping[int, int]
    """Host memory backing the guest, per node (nodes with none are left out)."""
    allowed_cpus: tuple[int, ...]
    vcpu_cpus: tuple[int, ...]
    """The CPU each vCPU runs on; empty when the VM is stopped."""
    binding: MemoryBinding
    balloon_target_bytes: int
    guest_memory_bytes: int
    """Memory the guest has now (configured minus balloon)."""
    working_set_bytes: int
    guest_used_bytes: int
    """Inside the guest: its working set, as far as its memory holds it."""
    guest_cache_bytes: int
    """Inside the guest: page cache (what the host backs beyond the working set)."""
    guest_free_bytes: int
    """Inside the guest: memory it has that the host has not backed yet."""
    guest_swap_bytes: int
    """Working set the guest swapped out because its balloon left too little memory."""
    host_swap_bytes: int
    """Working set the host could not back because its nodes were full."""
    blocked: bool
    """The VM's last touch found no memory it was allowed to take."""
    swapped_out_total_bytes: int
    migrating_to: tuple[int, ...] | None
    migration_stalled: bool
    migrated_bytes_total: int
    started_at: float
    swapped_in_total_bytes: int = 0
    """Working set brought back from the guest's swap as its balloon deflated."""

    @property
    def resident_bytes(self) -> int:
        return sum(self.memory_by_node.values())

    @property
    def swap_bytes(self) -> int:
        return self.guest_swap_bytes + self.host_swap_bytes

    def observation(self) -> VmObservation:
        return VmObservation(
            id=self.id,
            name=self.name,
            vcpus=self.vcpus,
            memory_bytes=self.memory_bytes,
            memory_by_node=dict(self.memory_by_node),
            allowed_cpus=self.allowed_cpus,
            running_cpus=self.vcpu_cpus,
            balloon=BalloonState(
                target_bytes=self.balloon_target_bytes, actual_bytes=self.guest_memory_bytes
            ),
            state=self.state,
        )
