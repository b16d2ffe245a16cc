"""`numad`: numad's pre-placement advice at boot, and its one-move-per-interval rebalancing.

numad is a per-host daemon (numad 0.5, `numad.c`; scoring in `numad_scoring.py`). We
model the two ways a virtualization host uses it:

- `place`: libvirt's `<vcpu placement='auto'>` asks numad for advice (`numad -w
  vcpus:MiB`) and binds the domain to the nodes it returns: vCPU affinity to their CPUs
  and, with no explicit `<numatune>`, memory in mode strict on the same nodes (libvirt
  formatdomain documentation; RHEL virtualization tuning guide, "NUMA node tuning"). So
  `bind_memory` is True. The host is chosen first-fit, as libvirt runs on the host it was
  pointed at; numad does not see claims (`uses_claims = False`).
- `plan` (manage_loads): on each host, the VMs big enough to manage (more than half a
  CPU, more than 300 MiB) are ordered as numad orders processes — not yet bound first, by
  CPU x memory descending; then the bound ones, larger first, those within 20 % of each
  other by oldest bind time — and the first whose advised nodes differ from where it is
  (or whose memory locality there is under 90 %) is bound and migrated. One process per
  host per interval: `plan` is called once per interval, which we take to be the
  harness's tick (numad's own is 5 s after a move, 15 s otherwise). A process bound less
  than 300 s ago is not re-evaluated (numad's early re-evaluation of processes on the
  busiest node is not modelled). A VM whose nodes the operator fixed is skipped (it
  still counts in the load): libvirt confines it with a cpuset, and migrate_pages(2) and
  sched_setaffinity(2) refuse nodes and CPUs outside the caller's cpuset, so numad's
  move would fail; we let numad go on to its next candidate, the kinder reading.

What numad measures and we infer from the view: a node's free memory is its observed
free memory; its idle CPU is its CPUs minus the vCPUs running there (every vCPU counted
busy, split evenly over the nodes it ran on); a VM's CPU use is its vCPUs, its memory use
its resident memory per node, and its virtual size its configured memory.
Candidate score: the node magnitude (higher is better).
"""

from __future__ import annotations

from collections.abc import Callable

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.considered import ConsideredLog
from numaplane.controller.policy.placement.cpu_choice import cpus_of_nodes
from numaplane.controller.policy.placement.memory_split import fill_in_order
from numaplane.controller.policy.placement.node_sets import distance_of
from numaplane.controller.policy.placement.numad_scoring import (
    MIB,
    ONE_HUNDRED,
    TARGET_UTILIZATION,
    NumadNode,
    NumadProcess,
    magnitude,
    pick_numa_nodes,
)
from numaplane.controller.policy.placement.toolstack_host import decision, toolstack_host
from numaplane.controller.policy.types import (
    Action,
    ClusterView,
    HostView,
    MemoryMove,
    Placement,
    PlacementDecision,
    VmRequest,
    VmView,
)

NAME = "numad"
CPU_THRESHOLD = 50
"""Hundredths of a CPU a process must use to be managed."""
MEMORY_THRESHOLD_MIB = 300
"""MiB a process must use to be managed."""
REEVALUATION_DELAY_S = 300.0
"""A process bound this recently is not looked at again (MIN_DELAY_FOR_REEVALUATION)."""
FOUND_BOUND_AGE_S = 1800.0
"""A process found already bound to a subset of nodes counts as bound this long ago."""


def numad_nodes(host: HostView) -> list[NumadNode]:
    """The host's nodes in numad's units, idle CPU inferred from where vCPUs run."""
    busy: dict[int, float] = {}
    for vm in host.vms:
        if vm.running_nodes:
            share = vm.vcpus * ONE_HUNDRED / len(vm.running_nodes)
            for node_id in vm.running_nodes:
                busy[node_id] = busy.get(node_id, 0.0) + share
    nodes = []
    for n in host.topology.nodes:
        total_cpu = len(n.cpus) * ONE_HUNDRED
        nodes.append(
            NumadNode(
                id=n.id,
                mbs_total=n.memory_total_bytes // MIB,
                mbs_free=n.memory_free_bytes // MIB,
                cpus_total=total_cpu,
                cpus_free=max(0, int(total_cpu - busy.get(n.id, 0.0))),
            )
        )
    return nodes


class NumadPolicy:
    """numad's advice for placement, and its rebalancing loop."""

    name = NAME
    uses_claims = False

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        log = ConsideredLog()
        start = toolstack_host(NAME, request, cluster, log, use_claims=self.uses_claims)
        if isinstance(start, PlacementDecision):
            return start
        host, target, chosen = start.host, start.target_bytes, start.reason
        nodes = numad_nodes(host.view)
        cpus, mbs = request.vcpus * ONE_HUNDRED, -(-target // MIB)
        for n in nodes:
            score = magnitude(mbs, cpus, n.mbs_free, max(n.cpus_free, 1))
            log.valid((1, -score), host.name, (n.id,), float(score))
        advice = pick_numa_nodes(nodes, distance_of(host.view.topology), cpus, mbs) or ()
        available = {n.id: n.available_bytes for n in host.nodes}
        split = fill_in_order(target, advice, available)
        if split is None:
            why = f"numad advised nodes {_ids(advice)}, which cannot hold {format_size(target)}"
            return decision(NAME, request, None, (chosen, why), log)
        bound = tuple(sorted(advice))
        log.valid((0,), host.name, bound, None)
        placement = Placement(
            host=host.name,
            nodes=bound,
            memory_by_node=split,
            cpus=cpus_of_nodes(host, bound),
            bind_memory=True,
        )
        why = f"numad advice for {request.vcpus} CPUs and {mbs} MiB: nodes {_ids(advice)}"
        return decision(NAME, request, placement, (chosen, why, "libvirt binds strictly"), log)

    def plan(self, cluster: ClusterView) -> tuple[Action, ...]:
        """At most one move per host: the first VM, in numad's order, that should move."""
        actions: list[Action] = []
        for host in cluster.hosts:
            if host.state == "down":
                continue
            move = _manage_loads(host, cluster)
            if move is not None:
                actions.append(move)
        return tuple(actions)


def _manage_loads(host: HostView, cluster: ClusterView) -> MemoryMove | None:
    nodes = numad_nodes(host)
    all_ids = frozenset(n.id for n in nodes)
    candidates = [
        vm
        for vm in host.vms
        if vm.vcpus * ONE_HUNDRED > CPU_THRESHOLD and _mbs_used(vm) > MEMORY_THRESHOLD_MIB
    ]
    if not candidates or not nodes:
        return None
    bind_time = {vm.name: _bind_time(vm, cluster, all_ids) for vm in candidates}
    distance = distance_of(host.topology)
    sum_used = sum(vm.vcpus * ONE_HUNDRED for vm in candidates)
    sum_total = sum(n.cpus_total for n in nodes)
    for vm in _numad_order(candidates, bind_time):
        if vm.pinned_nodes:
            continue  # confined by the toolstack's cpuset: numad cannot move it
        when = bind_time[vm.name]
        if when is not None and when + REEVALUATION_DELAY_S > cluster.now:
            continue
        process = NumadProcess(
            mbs_by_node={n: b // MIB for n, b in vm.memory_by_node.items()},
            mbs_used=_mbs_used(vm),
            cpus_used=vm.vcpus * ONE_HUNDRED,
            node_list=frozenset(vm.bound_nodes) if vm.bound_nodes is not None else all_ids,
            bound=when is not None,
        )
        target = pick_numa_nodes(
            nodes,
            distance,
            _cpu_request(vm),
            _mb_request(vm, nodes[0]),
            process=process,
            assume_enough_cpus=sum_used <= sum_total,
        )
        if target is None:
            continue
        to_nodes = tuple(sorted(target))
        remote = sum(b for n, b in vm.memory_by_node.items() if n not in target)
        return MemoryMove(
            vm=vm.name,
            host=host.name,
            to_nodes=to_nodes,
            bytes_to_move=remote,
            reason=(
                f"numad: bind {vm.name} to nodes {_ids(to_nodes)} and migrate "
                f"{format_size(remote)} (one process per interval)"
            ),
        )
    return None


def _numad_order(vms: list[VmView], bind_time: dict[str, float | None]) -> list[VmView]:
    """numad's candidate order: unbound by magnitude, then bound in 20 % bins by bind time.

    Reproduces manage_loads' selection sorts, including that its unsigned arithmetic
    makes a larger magnitude always win among bound processes.
    """
    mags = {vm.name: vm.vcpus * ONE_HUNDRED * _mbs_used(vm) for vm in vms}

    def mag(vm: VmView) -> int:
        return mags[vm.name]

    unbound = [vm for vm in vms if bind_time[vm.name] is None]
    bound = [vm for vm in vms if bind_time[vm.name] is not None]
    order = _selection_sort(unbound, lambda a, b: mag(a) > mag(b))

    def bound_first(a: VmView, b: VmView) -> bool:
        a_mag, b_mag = mag(a), mag(b)
        if a_mag > b_mag:
            return True
        diff = b_mag - a_mag
        if diff > 0 and a_mag // diff < 5:
            return False
        return (bind_time[a.name] or 0.0) <= (bind_time[b.name] or 0.0)

    return order + _selection_sort(bound, bound_first)


def _selection_sort(items: list[VmView], before: Callable[[VmView, VmView], bool]) -> list[VmView]:
    out = list(items)
    for i in range(len(out)):
        best = i
        for k in range(i + 1, len(out)):
            if before(out[k], out[best]):
                best = k
        out[i], out[best] = out[best], out[i]
    return out


def _bind_time(vm: VmView, cluster: ClusterView, all_nodes: frozenset[int]) -> float | None:
    if vm.name in cluster.last_moved:
        return cluster.last_moved[vm.name]
    if vm.bound_nodes is not None and set(vm.bound_nodes) < all_nodes:
        return cluster.now - FOUND_BOUND_AGE_S
    return None


def _mbs_used(vm: VmView) -> int:
    return sum(vm.memory_by_node.values()) // MIB


def _mb_request(vm: VmView, first: NumadNode) -> int:
    """MiB to ask for: resident use, or the virtual size for a process near a node's size."""
    used, size = _mbs_used(vm), vm.memory_bytes // MIB
    base = size if size > first.mbs_total and used * 5 // 4 > first.mbs_total else used
    return base * 100 // min(TARGET_UTILIZATION, 100)


def _cpu_request(vm: VmView) -> int:
    """CPU to ask for: use scaled by the target utilization, at most one CPU per vCPU thread."""
    return min(vm.vcpus * ONE_HUNDRED * 100 // TARGET_UTILIZATION, vm.vcpus * ONE_HUNDRED)


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
