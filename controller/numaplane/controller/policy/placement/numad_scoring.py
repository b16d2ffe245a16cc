"""numad's arithmetic: node magnitude, and the node list it advises for a request.

Modelled on numad 0.5 (`numad.c` by Bill Gray, Red Hat; read in the
openEuler-Computing/numad mirror): combined_value_of_weighted_resources and
pick_numa_nodes. Units are numad's: memory in MiB, CPU in hundredths of a CPU.

- A node's *magnitude* is (memory term) x (CPU term), where each term weighs the part of
  the free resource the request needs more than the excess: memory 10 per needed MiB and
  4 per excess MiB, CPU 6 per needed hundredth and 1 per excess hundredth.
- For an existing process its own memory and CPU are first added back to the nodes it
  uses (memory with a bias of 17/16 if it is not bound yet, 5/4 if it is), so that it
  does not flee itself.
- The number of nodes it needs is the larger of ceil(MiB / node MiB) and
  ceil((CPU - flex) / node CPU), both against the first node's totals.
- For every node, the magnitudes of that many nodes nearest to it (distance, then
  magnitude) are summed, each divided by the distance squared; the node with the largest
  sum is the centre. Nodes are then taken nearest-first from the centre, each "consuming"
  memory (keeping a 100 MiB margin) and CPU, until the node count, the memory and — unless
  CPUs are assumed plentiful — the CPU are met, or every node is taken.
- An existing process already bound to exactly those nodes, with at least the target
  memory locality (90 %) there, is left alone (None).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

MIB = 1 << 20
ONE_HUNDRED = 100
MBS_MARGIN = 100
"""MiB numad leaves free on a node it takes memory from (when the node must go on)."""
TARGET_UTILIZATION = 85
"""numad's default target utilization, percent (-u)."""
TARGET_MEMLOCALITY = 90
"""numad's default target memory locality, percent (-m)."""


@dataclass(frozen=True)
class NumadNode:
    id: int
    mbs_total: int
    mbs_free: int
    cpus_total: int
    """Hundredths of a CPU."""
    cpus_free: int
    """Idle CPU, hundredths."""


@dataclass(frozen=True)
class NumadProcess:
    """An existing process (a VM) as numad measures it."""

    mbs_by_node: Mapping[int, int]
    mbs_used: int
    cpus_used: int
    """Hundredths of a CPU."""
    node_list: frozenset[int]
    """Nodes its memory may use (Mems_allowed_list): all nodes when unbound."""
    bound: bool
    """numad has a bind time for it (bound by numad, or found bound to a subset)."""


def magnitude(mbs: int, cpus: int, mbs_free: int, cpus_free: int) -> int:
    """combined_value_of_weighted_resources: weighted free memory times weighted free CPU."""
    needed_mem, excess_mem = (mbs, mbs_free - mbs) if mbs_free > mbs else (mbs_free, 0)
    needed_cpu, excess_cpu = (cpus, cpus_free - cpus) if cpus_free > cpus else (cpus_free, 0)
    return (needed_mem * 10 + excess_mem * 4) * (needed_cpu * 6 + excess_cpu)


def pick_numa_nodes(
    nodes: Sequence[NumadNode],
    distance: Callable[[int, int], int],
    cpus: int,
    mbs: int,
    *,
    process: NumadProcess | None = None,
    assume_enough_cpus: bool = False,
) -> tuple[int, ...] | None:
    """The node ids numad advises, in the order it took them; None = leave the process."""
    ids = [n.id for n in nodes]
    free_mbs, free_cpus, sum_cpus_free = _free_for(nodes, process)
    mags = {i: magnitude(mbs, cpus, free_mbs[i], free_cpus[i]) for i in ids}
    if process is not None and cpus > sum_cpus_free:
        assume_enough_cpus = True
    cpu_flex = 0
    if process is not None and TARGET_UTILIZATION < 100:
        cpu_flex = (100 - TARGET_UTILIZATION) * nodes[0].cpus_total // 200
    min_req = max(
        _ceil_div(mbs, nodes[0].mbs_total), _ceil_div(cpus - cpu_flex, nodes[0].cpus_total)
    )
    min_req = min(min_req, len(nodes))
    totmag = {
        c: sum(
            mags[m] // distance(c, m) ** 2 for m in _nearest_first(ids, c, distance, mags)[:min_req]
        )
        for c in ids
    }
    centre = ids[0]
    for c in ids:
        if totmag[c] > totmag[centre]:
            centre = c
    taken: list[int] = []
    for n in _nearest_first(ids, centre, distance, mags):
        if not (min_req > 0 or mbs > 0 or (cpus > cpu_flex and not assume_enough_cpus)):
            break
        taken.append(n)
        min_req -= 1
        if len(taken) == len(nodes):
            break
        if free_mbs[n] >= mbs + MBS_MARGIN:
            mbs = 0
        else:
            mbs -= free_mbs[n] - MBS_MARGIN
        cpus = 0 if free_cpus[n] >= cpus else cpus - free_cpus[n]
    if process is not None and process.mbs_used > 0:
        nonlocal_mbs = sum(b for node, b in process.mbs_by_node.items() if node not in taken)
        displaced = 100 * nonlocal_mbs // process.mbs_used
        if (
            displaced <= 100 - TARGET_MEMLOCALITY
            and process.bound
            and set(taken) == set(process.node_list)
        ):
            return None
    if process is None and not taken:
        taken.append(ids[0])
    return tuple(taken)


def _free_for(
    nodes: Sequence[NumadNode], p: NumadProcess | None
) -> tuple[dict[int, int], dict[int, int], int]:
    """Free MiB and CPU per node as numad weighs them for `p`, and the CPU sum it checks.

    For an existing process its own use is added back first (memory with a bias of 17/16
    when unbound, 5/4 when bound; CPU in proportion to its memory when unbound, the
    average over its nodes when bound); the sum is taken before capping at the totals,
    as numad does; every node keeps at least 1/100 CPU.
    """
    free_mbs: dict[int, int] = {}
    free_cpus: dict[int, int] = {}
    total = 0
    avg = 0
    if p is not None and len(p.node_list) < len(nodes):
        listed = [n.cpus_free for n in nodes if n.id in p.node_list]
        avg = (p.cpus_used + sum(listed)) // max(1, len(p.node_list))
    for n in nodes:
        mbs, cpu = n.mbs_free, n.cpus_free
        if p is not None:
            own = p.mbs_by_node.get(n.id, 0)
            if len(p.node_list) >= len(nodes):
                mbs += own * 17 // 16
                cpu += p.cpus_used * own // p.mbs_used if p.mbs_used else 0
            else:
                mbs += own * 5 // 4
                if n.id in p.node_list:
                    cpu = avg
            total += cpu
            cpu, mbs = min(cpu, n.cpus_total), min(mbs, n.mbs_total)
        free_mbs[n.id], free_cpus[n.id] = mbs, max(cpu, 1)
    return free_mbs, free_cpus, total


def _nearest_first(
    ids: Sequence[int],
    centre: int,
    distance: Callable[[int, int], int],
    mags: Mapping[int, int],
) -> list[int]:
    """numad's selection sort: by distance from `centre`, larger magnitude first on ties.

    Kept a selection sort with swaps (not a stable sort) so that nodes equal in distance
    and magnitude come out in the order numad's would.
    """
    keys = [(distance(i, centre), -mags[i]) for i in ids]
    order = list(ids)
    for i in range(len(order)):
        best = i
        for k in range(i + 1, len(order)):
            if keys[k] < keys[best]:
                best = k
        order[i], order[best] = order[best], order[i]
        keys[i], keys[best] = keys[best], keys[i]
    return order


def _ceil_div(a: int, b: int) -> int:
    if b <= 0:
        return 0
    return -(-a // b) if a > 0 else 0
