"""Sets of NUMA nodes a VM could span: enumerated by size, or grown nearest-first.

Two ways to produce candidate node sets, because hosts differ by orders of magnitude:

- `sets_of_size` lists every k-subset in lexicographic order, as Xen's libxl does
  (`tools/libs/light/libxl_numa.c`, comb_init/comb_next). Exact, and cheap while the
  binomial C(n, k) stays small.
- `grow_nearest` starts from one node and adds, one at a time, a node from the nearest
  distance ring around the set (smallest largest-distance to any member), the one with
  most memory first within a ring. Started from every node, it finds compact sets on a
  16-node host in O(n^2 k) steps instead of C(16, 8) = 12,870 subsets — the cost that
  made Nova's NUMA fitting take minutes.

`compact_fitting_sets` combines them: exhaustive where C(n, k) is under a budget,
greedy rings above it, always at the smallest size that fits, and among those only the
sets of the smallest diameter. The exhaustive lists are ordered by diameter once per
distance matrix and size (`subsets_by_diameter`, cached: a cluster has few host shapes),
so a host's search stops at the first diameter class that has a set with room.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import combinations
from math import comb

from numaplane.common.topology import Topology

NodeSet = tuple[int, ...]
Distance = Callable[[int, int], int]
Matrix = tuple[tuple[int, ...], ...]

EXHAUSTIVE_LIMIT = 512
"""Largest C(n, k) enumerated in full before switching to nearest-ring growth."""


def sets_of_size(nodes: Sequence[int], size: int) -> Iterator[NodeSet]:
    """Every `size`-subset of `nodes`, lexicographic by position (libxl's order)."""
    return combinations(nodes, size)


def diameter(nodes: Sequence[int], distance: Distance) -> int:
    """Largest distance between two members (10, the local distance, for one node)."""
    worst = 10
    for i, a in enumerate(nodes):
        for b in nodes[i + 1 :]:
            d = distance(a, b)
            if d > worst:
                worst = d
    return worst


def distance_sum(nodes: Sequence[int], distance: Distance) -> int:
    """Sum of distances over unordered pairs of members (0 for one node)."""
    return sum(distance(a, b) for i, a in enumerate(nodes) for b in nodes[i + 1 :])


def distance_of(topology: Topology) -> Distance:
    """A fast distance lookup for one topology (a dict of rows, built once)."""
    ids = topology.node_ids
    rows = {
        a: dict(zip(ids, row, strict=True)) for a, row in zip(ids, topology.distances, strict=True)
    }
    return lambda a, b: rows[a][b]


@dataclass(frozen=True)
class FitNeed:
    """What a node set must hold: bytes of memory and a number of CPUs."""

    memory_bytes: int
    cpus: int

    def met_by(self, memory_bytes: int, cpus: int) -> bool:
        return memory_bytes >= self.memory_bytes and cpus >= self.cpus


def minimum_size(
    nodes: Sequence[int], memory: Mapping[int, int], cpus: Mapping[int, int], need: FitNeed
) -> int | None:
    """A lower bound on the size of any fitting set: the largest nodes first; None if none fits.

    Memory and CPUs are bounded separately (the k largest memories and the k largest CPU
    counts need not be the same nodes), so this is a bound, not always achievable.
    """
    mems = sorted((memory[n] for n in nodes), reverse=True)
    cpu_counts = sorted((cpus[n] for n in nodes), reverse=True)
    total_mem = total_cpu = 0
    for k in range(1, len(nodes) + 1):
        total_mem += mems[k - 1]
        total_cpu += cpu_counts[k - 1]
        if need.met_by(total_mem, total_cpu):
            return k
    return None


def grow_nearest(
    seed: int,
    nodes: Sequence[int],
    memory: Mapping[int, int],
    cpus: Mapping[int, int],
    need: FitNeed,
    distance: Distance,
    *,
    max_size: int,
    memory_first: bool = False,
) -> NodeSet | None:
    """Grow a set from `seed` ring by ring until it fits; None if it cannot within max_size.

    The next node is the one whose largest distance to the set is smallest (the nearest
    ring), and within that ring the one with most memory, then most CPUs, then lowest id.
    With `memory_first` the node with most memory comes first and the ring breaks ties:
    it reaches the fewest nodes when the nearest nodes are nearly full.
    """
    members = [seed]
    mem, cpu = memory[seed], cpus[seed]
    ring = {n: distance(seed, n) for n in nodes if n != seed}
    while not need.met_by(mem, cpu):
        if not ring or len(members) >= max_size:
            return None
        if memory_first:
            nxt = min(ring, key=lambda n: (-memory[n], ring[n], -cpus[n], n))
        else:
            nxt = min(ring, key=lambda n: (ring[n], -memory[n], -cpus[n], n))
        del ring[nxt]
        members.append(nxt)
        mem += memory[nxt]
        cpu += cpus[nxt]
        for n in ring:
            d = distance(nxt, n)
            if d > ring[n]:
                ring[n] = d
    return tuple(sorted(members))


def compactness(nodes: Sequence[int], distance: Distance) -> tuple[int, int]:
    """(diameter, sum of pairwise distances): smaller is a tighter set, diameter first."""
    return diameter(nodes, distance), distance_sum(nodes, distance)


@lru_cache(maxsize=1024)
def subsets_by_compactness(matrix: Matrix, size: int) -> tuple[tuple[int, int, NodeSet], ...]:
    """Every `size`-subset of positions 0..n-1 as (diameter, distance sum, positions).

    Tightest first (diameter, then distance sum), ties in lexicographic order. Pure, and
    cached by (matrix, size): hosts of one shape share the list.
    """
    out = []
    for combo in combinations(range(len(matrix)), size):
        worst, total = 10, 0
        for i, a in enumerate(combo):
            row = matrix[a]
            for b in combo[i + 1 :]:
                d = row[b]
                total += d
                if d > worst:
                    worst = d
        out.append((worst, total, combo))
    out.sort(key=lambda t: (t[0], t[1]))
    return tuple(out)


def compact_fitting_sets(
    nodes: Sequence[int],
    memory: Mapping[int, int],
    cpus: Mapping[int, int],
    need: FitNeed,
    matrix: Matrix,
    *,
    exhaustive_limit: int = EXHAUSTIVE_LIMIT,
) -> list[NodeSet]:
    """The fitting sets of the fewest nodes, then the tightest (`compactness`); [] if none.

    `matrix` holds the distances between `nodes`, by position. Sizes are tried from the
    lower bound up. At a size whose subsets number at most `exhaustive_limit` they are
    checked tightest first, so the answer is exact; above it the nearest-ring growth from
    every seed is used and the smallest, tightest sets it produced are returned
    (possibly one node larger than the true minimum, never smaller).
    """
    lower = minimum_size(nodes, memory, cpus, need)
    if lower is None:
        return []
    n = len(nodes)
    for size in range(lower, n + 1):
        if comb(n, size) > exhaustive_limit:
            return grown_sets(nodes, memory, cpus, need, matrix)
        found: list[NodeSet] = []
        found_class = (0, 0)
        for diam, total, combo in subsets_by_compactness(matrix, size):
            if found and (diam, total) > found_class:
                break
            ids = [nodes[i] for i in combo]
            if need.met_by(sum(memory[x] for x in ids), sum(cpus[x] for x in ids)):
                found.append(tuple(sorted(ids)))
                found_class = (diam, total)
        if found:
            return found
    return []


def grown_sets(
    nodes: Sequence[int],
    memory: Mapping[int, int],
    cpus: Mapping[int, int],
    need: FitNeed,
    matrix: Matrix,
    *,
    most_compact: bool = True,
) -> list[NodeSet]:
    """The sets `grow_nearest` grows from every node (nearest ring first, and memory
    first) that meet `need`, the smallest of them — and of those the most compact (least
    diameter) unless `most_compact` is False. `matrix` is by position in `nodes`."""
    position = {node: i for i, node in enumerate(nodes)}

    def distance(a: int, b: int) -> int:
        return matrix[position[a]][position[b]]

    grown = {
        s
        for seed in nodes
        for memory_first in (False, True)
        if (
            s := grow_nearest(
                seed,
                nodes,
                memory,
                cpus,
                need,
                distance,
                max_size=len(nodes),
                memory_first=memory_first,
            )
        )
        is not None
    }
    if not grown:
        return []
    smallest = [s for s in grown if len(s) == min(len(g) for g in grown)]
    if not most_compact:
        return sorted(smallest)
    compact = min(diameter(s, distance) for s in smallest)
    return sorted(s for s in smallest if diameter(s, distance) == compact)


def submatrix(topology: Topology, nodes: Sequence[int]) -> Matrix:
    """Distances between `nodes` of `topology`, by their position in `nodes`."""
    index = {n: i for i, n in enumerate(topology.node_ids)}
    rows = [topology.distances[index[n]] for n in nodes]
    return tuple(tuple(row[index[m]] for m in nodes) for row in rows)
