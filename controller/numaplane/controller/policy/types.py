"""The immutable views policies read and the decisions they return.

A policy sees the cluster as a `ClusterView` (built by the reconciler from etcd, or by
the benchmark harness from its simulator) and returns decisions that carry their
reasons, so that `numaplane explain` can tell an operator why.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, Protocol

from numaplane.common.locality import locality, node_set_share, spread_evenly
from numaplane.common.topology import Topology

Affinity = Literal["affinity", "anti-affinity"]


@dataclass(frozen=True)
class VmRequest:
    """A VM to place: its size and the operator's constraints."""

    name: str
    vcpus: int
    memory_bytes: int
    reservation_bytes: int = 0
    """Guaranteed memory (never ballooned below)."""
    limit_bytes: int | None = None
    """Most memory the VM may get; None = memory_bytes."""
    shares: int = 1000
    host: str | None = None
    """Only this host, when set."""
    nodes: tuple[int, ...] | None = None
    """Only these NUMA nodes, when set (requires host)."""
    group: str | None = None
    affinity: Affinity | None = None
    policy: str | None = None
    """Placement policy by name; None = the cluster default."""


@dataclass(frozen=True)
class VmView:
    """A VM as the cluster sees it now."""

    name: str
    host: str
    vcpus: int
    memory_bytes: int
    memory_by_node: Mapping[int, int]
    cpu_nodes: frozenset[int]
    """Nodes whose CPUs the vCPUs may run on (their binding); all nodes when unbound."""
    running_nodes: frozenset[int]
    """Nodes where the vCPUs ran last."""
    vcpus_by_node: Mapping[int, float] = field(default_factory=dict)
    """Where the vCPUs ran, in vCPUs per node (time-averaged where the agent samples);
    empty: spread evenly over `running_nodes` (see `vcpu_nodes`)."""
    group: str | None = None
    bound_nodes: tuple[int, ...] | None = None
    """Memory binding, when the VM has one."""
    pinned_host: bool = False
    """The operator fixed its host (`vm create --host`): no automatic move may take it
    to another host (a manual `vm migrate --host` still may)."""
    guest_bytes: int | None = None
    """Memory the guest has now (its size less its balloon), when the source knows it: a
    VM whose resident memory is below it will still touch the rest, and takes room as
    soon as room appears. None: taken to be its resident memory."""
    floating: bool = False
    """Nobody placed it: nothing binds its vCPUs (they may run on every node of its host
    that has CPUs) and no policy binds its memory (a VM placed without NUMA awareness, or
    started outside numaplane). A toolstack that chose nodes for it — Xen's node-affinity,
    a preferred memory policy — placed it, even with its vCPUs free."""
    pinned_nodes: bool = False
    """The operator fixed its nodes (`vm create --nodes`): no automatic move may take its
    memory or vCPUs off them. A toolstack confines such a VM with a cpuset (libvirt's
    strict numatune), and migrate_pages(2) and sched_setaffinity(2) refuse nodes and CPUs
    outside it, so no daemon working underneath the toolstack could move it either."""

    @property
    def vcpu_nodes(self) -> Mapping[int, float]:
        """vCPUs per node: `vcpus_by_node`, else the vCPUs spread over `running_nodes`."""
        return self.vcpus_by_node or spread_evenly(self.vcpus, self.running_nodes)

    @property
    def locality(self) -> float:
        """Per-vCPU locality (`numaplane.common.locality`): what reports carry."""
        return locality(self.memory_by_node, self.vcpu_nodes)

    @property
    def node_set_locality(self) -> float:
        """Share of the memory on the nodes where the vCPUs run: what a memory move onto
        those nodes raises to 1.0 (1.0 for a VM spread evenly over every node)."""
        return node_set_share(self.memory_by_node, self.running_nodes)


@dataclass(frozen=True)
class HostView:
    name: str
    topology: Topology
    """Free memory per node as last observed."""
    schedulable: bool = True
    """Up, and neither cordoned nor draining."""
    state: str = "up"
    vms: tuple[VmView, ...] = ()
    claimed_by_node: Mapping[int, int] = field(default_factory=dict)
    """Memory promised to VMs being started but not yet observed."""

    def available_bytes(self, node: int) -> int:
        """Free memory on a node after claims in flight."""
        return self.topology.node(node).memory_free_bytes - self.claimed_by_node.get(node, 0)

    def vcpus_on_node(self, node: int) -> float:
        """vCPUs already running on a node, a VM bound to k nodes counting 1/k on each."""
        total = 0.0
        for vm in self.vms:
            if node in vm.cpu_nodes and vm.cpu_nodes:
                total += vm.vcpus / len(vm.cpu_nodes)
        return total


@dataclass(frozen=True)
class ClusterView:
    hosts: tuple[HostView, ...]
    now: float = 0.0
    last_moved: Mapping[str, float] = field(default_factory=dict)
    """Simulated or wall time of each VM's last migration (for cool-downs)."""

    def host(self, name: str) -> HostView | None:
        for h in self.hosts:
            if h.name == name:
                return h
        return None


@dataclass(frozen=True)
class Candidate:
    """One host/node-set a policy looked at, and what it thought of it."""

    host: str
    nodes: tuple[int, ...]
    score: float | None = None
    rejected: str | None = None
    """Why it was rejected; None when it was a valid candidate."""


@dataclass(frozen=True)
class Placement:
    host: str
    nodes: tuple[int, ...]
    """Nodes the VM is bound to (memory and vCPUs); all nodes when unbound."""
    memory_by_node: Mapping[int, int]
    """Memory to claim per node; empty for policies that let first-touch decide."""
    cpus: tuple[int, ...]
    """CPUs the vCPUs may run on."""
    bind_memory: bool = True
    """False: the policy only hints; memory lands first-touch and may spill."""


@dataclass(frozen=True)
class PlacementDecision:
    vm: str
    policy: str
    placement: Placement | None
    reasons: tuple[str, ...] = ()
    considered: tuple[Candidate, ...] = ()


@dataclass(frozen=True)
class MemoryMove:
    """Move a VM's memory (and its vCPU binding) to a node set on its host."""

    vm: str
    host: str
    to_nodes: tuple[int, ...]
    bytes_to_move: int
    reason: str


@dataclass(frozen=True)
class AffinityChange:
    """Re-bind a VM's vCPUs to a node set (its memory stays)."""

    vm: str
    host: str
    nodes: tuple[int, ...]
    reason: str


@dataclass(frozen=True)
class HostMove:
    """Live-migrate a VM to another host, bound there to `to_nodes`."""

    vm: str
    host: str
    to_host: str
    to_nodes: tuple[int, ...]
    bytes_to_move: int
    """The VM's resident memory: all of it is copied."""
    reason: str
    arrival: tuple[tuple[int, int], ...] = ()
    """(node, bytes) of `to_host` the VM's memory is expected to take, as the planner
    counted it: what the controller claims on the target while the copy runs, so that
    no placement or later move is promised the same memory. Empty: spread evenly."""

    def arrival_by_node(self) -> dict[int, int]:
        """The expected bytes per target node (`arrival`, or an even split)."""
        if self.arrival:
            return dict(self.arrival)
        nodes = sorted(set(self.to_nodes))
        if not nodes:
            return {}
        share, extra = divmod(self.bytes_to_move, len(nodes))
        return {n: share + (1 if i < extra else 0) for i, n in enumerate(nodes)}


@dataclass(frozen=True)
class BalloonTarget:
    """Set a VM's balloon target: what a balloon policy's decision becomes
    in the benchmark harness. Not an `Action`: rebalancers never return it."""

    vm: str
    host: str
    target_bytes: int
    reason: str


Action = MemoryMove | AffinityChange | HostMove


class PlacementPolicy(Protocol):
    name: str

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision: ...


class RebalancePolicy(Protocol):
    name: str

    def plan(self, cluster: ClusterView) -> tuple[Action, ...]: ...
