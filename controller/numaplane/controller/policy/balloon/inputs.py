"""What the balloon policy reads: per host, its NUMA nodes' memory and its VMs' balloons.

Plain immutable data, built by the leader from etcd (`controller.balloon_inputs`) or by
the benchmark from its simulator (`numaplane.bench.balloon`), so both run the same decisions.
Sizes are bytes. A VM's *target* is what its balloon was last asked for, its *actual*
what the guest has now (they differ while a balloon moves).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_SHARES = 1000
"""Shares of a VM that has no spec (ESX's "normal" level is 1000 per GiB-ish; one
number for every VM here, since only ratios matter)."""


@dataclass(frozen=True)
class GuestStats:
    """What the guest itself says about its memory (virtio-balloon statistics)."""

    free_bytes: int
    """Unused memory (MemFree): what MOM calls `mem_unused`."""
    usable_bytes: int
    """Memory the guest could give up without swapping: its MemAvailable (free plus
    reclaimable cache), libvirt's `usable` balloon statistic (libvirt's `available` is
    the guest's MemTotal). numaplane's idle-memory estimate."""
    swap_in_bytes: int = 0
    swap_out_bytes: int = 0


@dataclass(frozen=True)
class BalloonVm:
    name: str
    max_bytes: int
    """The VM's maximum memory (balloon fully deflated)."""
    target_bytes: int
    actual_bytes: int
    memory_by_node: Mapping[int, int] = field(default_factory=dict)
    """Host memory backing the guest, per NUMA node."""
    reservation_bytes: int = 0
    """Guaranteed: never ballooned below."""
    limit_bytes: int | None = None
    """Never given more than this; None = max_bytes."""
    shares: int = DEFAULT_SHARES
    auto: bool = False
    """The policy may move this balloon (else only the operator does)."""
    guest: GuestStats | None = None
    """None when the driver has no guest statistics."""

    @property
    def floor_bytes(self) -> int:
        """The lowest target allowed: the reservation (within the VM's maximum)."""
        return min(max(0, self.reservation_bytes), self.max_bytes)

    @property
    def ceiling_bytes(self) -> int:
        """The highest target allowed: the limit within the maximum, never below the floor."""
        limit = self.max_bytes if self.limit_bytes is None else self.limit_bytes
        return max(min(limit, self.max_bytes), self.floor_bytes)

    def node_share(self, node: int) -> float:
        """Share of the VM's backed memory on `node` (0 when nothing is backed)."""
        total = sum(self.memory_by_node.values())
        return self.memory_by_node.get(node, 0) / total if total > 0 else 0.0


@dataclass(frozen=True)
class NodeState:
    node: int
    total_bytes: int
    free_bytes: int


@dataclass(frozen=True)
class BalloonHost:
    name: str
    nodes: tuple[NodeState, ...]
    vms: tuple[BalloonVm, ...] = ()

    @property
    def total_bytes(self) -> int:
        return sum(n.total_bytes for n in self.nodes)

    @property
    def free_bytes(self) -> int:
        return sum(n.free_bytes for n in self.nodes)
