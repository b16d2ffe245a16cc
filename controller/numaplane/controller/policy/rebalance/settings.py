"""Knobs of the rebalancer, each with where its default comes from and what it trades.

The cluster keeps them in etcd as `RebalancePolicyConfig` (`numaplane policy set
rebalance.KEY=VALUE`); `numaplane.controller.rebalance.config` turns that record into this
dataclass (a zero or absent field means "the default below"). Fields not in the record
shape the rules rather than tune them.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import MiB


@dataclass(frozen=True)
class RebalanceSettings:
    enabled: bool = True
    """The leader runs a pass every period. On by default: measured locality is the point
    of the system, and the budget and cool-down below bound what a pass may cost. An
    operator's `numaplane rebalance now` runs a pass even when this is off."""
    locality_threshold: float = 0.9
    """VMs with less of their memory on their vCPUs' nodes are candidates. numad's
    default target memory locality (-m) is 90 %."""
    bandwidth_bytes_per_s: int = 512 * MiB
    """Migration budget of one host. Page migration copies at 1-3 GB/s per thread on
    current servers and competes with the guests for memory bandwidth; half a GiB/s is
    about 1 % of one socket's STREAM bandwidth."""
    period_s: float = 10.0
    """Seconds between passes; a host may move `bandwidth x period` bytes per pass (a
    token bucket of that capacity, refilled at the bandwidth). numad re-evaluates every
    5-15 s, ESXi's NUMA rebalancer every 2 s."""
    cooldown_s: float = 300.0
    """A VM moved (memory, vCPUs or host) is not moved again before this: no ping-pong.
    numad does not re-evaluate a process it bound within 300 s."""
    min_gain: float = 0.05
    """A move must make at least this share of the VM's memory local."""
    cpu_overcommit: float = 1.0
    """vCPUs per CPU a node may carry: a move never takes a node above it, and a node
    above it sheds VMs to nodes below it (CPU balance)."""
    balance_tolerance: float = 1.0
    """A node is out of balance when it carries more than (1 + this) x its vCPU limit:
    then a VM moves off it to nodes with CPU room. Moving a VM costs its memory in copy
    bandwidth and buys only CPU time, so mild overcommit is left to the host's scheduler
    (in the benchmark, balancing at 0 or 50 % tolerance copied 8-15 times the bytes on
    churn-cluster and lowered mean throughput; it helped only parallel-boot)."""
    allow_spread: bool = False
    """Let a VM whose compact home has no room have its vCPUs spread over the nodes that
    hold its memory. That raises its locality figure to 1.0 but not its speed: each vCPU
    still reaches the other nodes' memory remotely (access locality falls), so by default
    it is refused and such a VM waits for room. (The benchmark's `numaplane-spread`.)"""
    locality_host_moves: bool = True
    """A VM under the threshold that no move on its own host can make local (every node set
    that could hold it is full, and no VM can make room) live-migrates to another host
    where it is wholly local on a compact node set — if the move makes at least
    `host_move_min_gain` of it local. Without this such a VM waits on its host until
    others leave, however much room the rest of the cluster has."""
    home_floating: bool = True
    """Give floating VMs (nothing binds their vCPUs; `floating`) homes, all of a host's
    together: without it, the placement of VMs nobody bound is left as the scheduler and
    first touch made it, unless one-VM-at-a-time compaction finds CPU room."""
    cpu_host_moves: bool = True
    """Floating VMs leave a host running more vCPUs than its CPUs x `cpu_overcommit` for a
    host with CPUs idle, wholly local there (`cpu_across_hosts`): nobody placed them, so
    their host is numaplane's to choose too."""
    untouched_moves: bool = True
    """When a host has run out of memory (under `pressure_free_fraction` free, now or at
    the previous pass) and its guests have more memory still to touch than it has free,
    VMs with memory to touch live-migrate, least resident first, to hosts that hold all
    of their guest, until what the others have left to touch fits on the nodes their
    vCPUs run on (`untouched`): they copy little now, and the first touches that would
    otherwise take every byte freed on the host land where there is room. Needs the
    guests' sizes (balloon actual); without them it never fires."""
    host_move_min_gain: float = 0.5
    """A live migration copies the whole VM (and its dirtied pages again): taken for
    locality only when it makes at least this share of the VM local, so the bytes it
    copies are at most twice the bytes it makes local. Making room across hosts uses the
    same ratio: the local bytes it gains must be at least this share of all it copies."""
    make_room_across_hosts: bool = True
    """A VM still under the threshold after its host's pass and the host moves above (no
    room on its host, no host that takes it whole) may have *other* VMs of its host
    live-migrate away — each wholly local on its new host — so that it fits on a compact
    home on its own host (`room_across_hosts`). It trades bytes copied (every evicted VM
    whole, plus the VM's own remote part) and a live migration of VMs that were fine
    where they were for locality now rather than at the next departure; it is taken only
    when the local bytes gained are at least `host_move_min_gain` x the bytes copied.
    Off, such a VM waits on its host until others leave."""
    node_headroom_fraction: float = 0.02
    """Share of each node's memory a move leaves free (the kernel's reserves, page cache)."""
    pressure_free_fraction: float = 0.05
    """A host with less free memory than this share is under pressure."""
    pressure_grace_s: float = 30.0
    """Pressure that ballooning cannot relieve within the VMs' reservations, lasting this
    long, moves a VM to another host (three periods)."""

    @property
    def budget_bytes(self) -> int:
        """Capacity of a host's bucket: one period at the bandwidth."""
        return int(self.bandwidth_bytes_per_s * self.period_s)
