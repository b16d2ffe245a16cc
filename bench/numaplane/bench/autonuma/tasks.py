"""Where the kernel moves a VM's vCPU threads: toward its group's preferred node, when
there is room or a swap that helps both sides.

After kernel/sched/fair.c: numa_migrate_preferred -> task_numa_migrate ->
task_numa_find_cpu / task_numa_compare (Linux >= 5.7, with the load balancer's rules):

- a task off its preferred node looks for a CPU there, among the CPUs its affinity
  allows (a task never leaves its mask; cpusets and sched_setaffinity bind it);
- it may **move** to an idle CPU when the destination node has spare capacity (fewer
  running tasks than CPUs) and the move leaves no imbalance the load balancer would undo:
  after the move the destination may run at most NUMA_IMBALANCE_MIN (2) more tasks than
  the source, and only while it runs no more than imb_numa_nr (12.5 % of a node's
  CPUs, the allowance sched/topology.c gives a node that is one LLC); a destination
  without spare capacity takes it only if the capacity-weighted imbalance between the
  two nodes does not grow (load_too_imbalanced);
- otherwise it may **swap** with a task running there (that may run on the source CPU)
  when the two moves together gain at least SMALLIMP (30 per mille) of fault weight:
  its group's weight at the destination minus at the source, plus the other task's
  group weight at the source minus at the destination (group_weight, memory faults per
  node in per mille; a task with no NUMA faults weighs 0 everywhere);
- when the preferred node has no room, or the group is active on several nodes, the
  other nodes where the group's weight is not lower than at the source are tried too,
  and the best gain wins: a group larger than a node spreads over the nodes with most
  of its faults;
- two tasks that share no numa group (one-vCPU VMs, tasks without faults) are not
  swapped while the destination has spare capacity (a swap there only trades one
  task's locality for the other's);
- a task of a group tries once per pass over its memory: after the attempt the kernel
  makes the node it is on its own preferred node until its next task_numa_placement
  (`GroupFaults.settled`); a task alone retries every tick.

Simplifications: running tasks are vCPUs (every vCPU counts as runnable, as in the
performance model's CPU overcommit); a CPU's load is its vCPU count; a task tries once per
tick (the kernel retries about once a second, numa_migrate_retry); node topology is
weighed at the distance from the source to the candidate node (`topology`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from numaplane.bench.autonuma.group import GroupFaults
from numaplane.bench.autonuma.topology import NumaTopology
from numaplane.hostagent.drivers.sim import SimHost

SMALLIMP = 30.0
"""fair.c: a swap must gain at least this much fault weight (per mille)."""
NUMA_IMBALANCE_MIN = 2
"""fair.c: the small imbalance allowed toward a lightly loaded node."""


@dataclass(frozen=True)
class TaskMove:
    vm: str
    vcpu: int
    to_cpu: int
    swapped_with: tuple[str, int] | None = None


def imb_numa_nr(cpus_per_node: int) -> int:
    """The tasks a node may run beyond balance (sched/topology.c: 12.5 % of a node that
    is one LLC, at least 1)."""
    return max(1, cpus_per_node >> 3)


def may_move(host: SimHost, src: int, dst: int) -> bool:
    """Whether one task may move from node `src` to node `dst` without an imbalance the
    load balancer would undo (task_numa_find_cpu)."""
    src_running, dst_running = host.node_vcpu_load(src), host.node_vcpu_load(dst)
    dst_cpus = len(host.spec.cpus_of_node(dst))
    if dst_running < dst_cpus:  # node_has_spare
        imbalance = max(0, (dst_running + 1) - (src_running - 1))
        if dst_running + 1 <= imb_numa_nr(dst_cpus) and imbalance <= NUMA_IMBALANCE_MIN:
            imbalance = 0
        return imbalance == 0
    src_cpus = len(host.spec.cpus_of_node(src))
    old = abs(dst_running * src_cpus - src_running * dst_cpus)
    new = abs((dst_running + 1) * src_cpus - (src_running - 1) * dst_cpus)
    return new <= old


def place_tasks(
    host: SimHost, groups: Mapping[str, GroupFaults], topology: NumaTopology
) -> list[TaskMove]:
    """One attempt for every vCPU off its group's preferred node; returns what moved.

    `groups` holds the VMs the scanner follows on this host, in start order; every other
    running VM's vCPUs are tasks with no NUMA faults (weight 0 everywhere) that a swap
    may still move, within their own affinity.
    """
    spec = host.spec
    node_of = {c: n for n in spec.node_ids for c in spec.cpus_of_node(n)}
    moves: list[TaskMove] = []
    for name, group in groups.items():
        if group.preferred is None:
            continue
        for index in range(len(host.vm(name).vcpu_cpus)):
            if index in group.settled:
                continue
            move = _best_move(host, groups, topology, name, index, node_of)
            if move is not None:
                _apply(host, move)
                moves.append(move)
            if group.grouped and node_of[host.vm(name).vcpu_cpus[index]] != group.preferred:
                group.settled.add(index)
    return moves


def _best_move(
    host: SimHost,
    groups: Mapping[str, GroupFaults],
    topology: NumaTopology,
    name: str,
    index: int,
    node_of: Mapping[int, int],
) -> TaskMove | None:
    """task_numa_migrate for one vCPU: the best move or swap, or None."""
    group = groups[name]
    state = host.vm(name)
    src_cpu = state.vcpu_cpus[index]
    src = node_of[src_cpu]
    preferred = group.preferred
    if preferred is None or src == preferred:
        return None
    allowed = set(state.allowed_cpus)

    def gain_to(dst: int) -> tuple[float, int]:
        dist = topology.distance(src, dst)
        return group.weight(dst, topology, dist) - group.weight(src, topology, dist), dist

    others = [n for n in host.spec.node_ids if n not in (src, preferred) and gain_to(n)[0] >= 0]
    best: TaskMove | None = None
    best_gain = 0.0
    for i, dst in enumerate([preferred, *others]):
        if i == 1 and best is not None and len(group.active) <= 1:
            break  # a place on the preferred node, for a group active on one node
        cpus = [c for c in host.spec.cpus_of_node(dst) if c in allowed]
        if not cpus:
            continue
        gain, dist = gain_to(dst)
        if gain >= best_gain and may_move(host, src, dst):
            idle = [c for c in cpus if host.cpu_vcpu_load(c) == 0]
            target = idle[0] if idle else min(cpus, key=lambda c: (host.cpu_vcpu_load(c), c))
            best, best_gain = TaskMove(name, index, target), gain
        swap = _best_swap(host, groups, topology, name, src_cpu, (src, dst, dist), cpus, gain)
        if swap is not None and swap[1] > best_gain + SMALLIMP / 2:
            (cpu, other, j), best_gain = swap
            best = TaskMove(name, index, cpu, swapped_with=(other, j))
    return best


def _best_swap(
    host: SimHost,
    groups: Mapping[str, GroupFaults],
    topology: NumaTopology,
    name: str,
    src_cpu: int,
    between: tuple[int, int, int],
    cpus: list[int],
    gain: float,
) -> tuple[tuple[int, str, int], float] | None:
    """task_numa_compare's swap: a vCPU of another VM on one of `cpus` (on node `dst`)
    that may run on `src_cpu`, with the largest joint gain of at least SMALLIMP."""
    src, dst, dist = between
    best: tuple[tuple[int, str, int], float] | None = None
    wanted = set(cpus)
    spare = host.node_vcpu_load(dst) < len(host.spec.cpus_of_node(dst))
    for other in host.vms():
        if other.name == name or other.state != "running" or src_cpu not in other.allowed_cpus:
            continue
        theirs = groups.get(other.name)
        if spare and not groups[name].grouped and (theirs is None or not theirs.grouped):
            continue  # neither in a group, and room at the destination
        their_gain = (
            theirs.weight(src, topology, dist) - theirs.weight(dst, topology, dist)
            if theirs is not None
            else 0.0
        )
        total = gain + their_gain
        if total < SMALLIMP or (best is not None and total <= best[1]):
            continue
        for j, cpu in enumerate(other.vcpu_cpus):
            if cpu in wanted:
                best = ((cpu, other.name, j), total)
                break
    return best


def _apply(host: SimHost, move: TaskMove) -> None:
    if move.swapped_with is None:
        host.move_vcpu(move.vm, move.vcpu, move.to_cpu)
        return
    other, j = move.swapped_with
    here = host.vm(move.vm).vcpu_cpus[move.vcpu]
    host.move_vcpu(move.vm, move.vcpu, move.to_cpu)
    host.move_vcpu(other, j, here)
