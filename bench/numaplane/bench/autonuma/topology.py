"""How the scheduler reads a host's NUMA distances: which nodes' faults count toward a node,
and how a numa group's preferred node is found.

After kernel/sched/fair.c and kernel/sched/topology.c (init_numa_topology_type):

- NUMA_DIRECT, two distance levels (every remote node equally far): a node's weight is
  its own faults, the preferred node the one with the most;
- NUMA_GLUELESS_MESH, more levels and an intermediate node between the two furthest ones
  (a ring of sockets): a node also scores the faults of the nodes nearer than the
  largest distance, scaled by (max - d) / (max - 10) (score_nearby_nodes), and the
  preferred node is the one with the highest score (preferred_group_nid);
- NUMA_BACKPLANE, more levels and no intermediate node (SNC pairs behind an interconnect):
  a node also scores, unscaled, the faults of nodes nearer than the distance being
  weighed; the preferred node is found top down, taking at each distance the group of
  nodes nearer than it with the most faults, down to one node (preferred_group_nid).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from enum import Enum

from numaplane.common.topology import LOCAL_DISTANCE


class NumaTopologyType(Enum):
    DIRECT = "direct"
    GLUELESS_MESH = "glueless-mesh"
    BACKPLANE = "backplane"


class NumaTopology:
    def __init__(self, distances: Sequence[Sequence[int]]) -> None:
        self.distances = distances
        self.nodes = tuple(range(len(distances)))
        levels = sorted({d for row in distances for d in row})
        self.max_distance = levels[-1]
        self.levels = levels
        self.kind = _kind(distances, levels)

    def distance(self, a: int, b: int) -> int:
        return self.distances[a][b]

    def score(self, faults: Mapping[int, float], nid: int, dist: int) -> float:
        """A node's faults plus its nearby nodes' (group_faults + score_nearby_nodes)."""
        total = faults.get(nid, 0.0)
        if self.kind is NumaTopologyType.DIRECT:
            return total
        top = self.max_distance
        for node in self.nodes:
            d = self.distance(nid, node)
            if node == nid or d == top:
                continue
            if self.kind is NumaTopologyType.BACKPLANE and d >= dist:
                continue
            f = faults.get(node, 0.0)
            if self.kind is NumaTopologyType.GLUELESS_MESH:
                f = f * (top - d) / (top - LOCAL_DISTANCE)
            total += f
        return total

    def preferred(
        self, faults: Mapping[int, float], current: int | None, rng: random.Random
    ) -> int | None:
        """The preferred node of a group with these memory faults (None: no faults).

        Ties keep `current` when it is among them, else `rng` picks (real fault counts
        are noisy and do not tie for long)."""
        if max(faults.values(), default=0.0) <= 0:
            return None
        if self.kind is NumaTopologyType.BACKPLANE:
            return self._backplane(faults)
        top = self.max_distance
        scores = {n: self.score(faults, n, top) for n in self.nodes}
        best = max(scores.values())
        tied = [n for n, s in scores.items() if s >= best * (1 - 1e-9)]
        if current in tied:
            return current
        return tied[0] if len(tied) == 1 else rng.choice(tied)

    def _backplane(self, faults: Mapping[int, float]) -> int:
        nodes = list(self.nodes)
        nid = max(nodes, key=lambda n: (faults.get(n, 0.0), -n))
        for dist in reversed([d for d in self.levels if d > LOCAL_DISTANCE]):
            best_faults, best_group = 0.0, nodes
            left = list(nodes)
            while left:
                a = left[0]
                group = [b for b in left if self.distance(a, b) < dist]
                left = [b for b in left if b not in group]
                f = sum(faults.get(b, 0.0) for b in group)
                if f > best_faults:
                    best_faults, best_group, nid = f, group, a
            if best_faults <= 0:
                break
            nodes = best_group
        return nid


def _kind(distances: Sequence[Sequence[int]], levels: Sequence[int]) -> NumaTopologyType:
    if len(levels) <= 2:
        return NumaTopologyType.DIRECT
    top = levels[-1]
    n = len(distances)
    for a in range(n):
        for b in range(n):
            if distances[a][b] < top:
                continue
            if any(distances[a][c] < top and distances[b][c] < top for c in range(n)):
                return NumaTopologyType.GLUELESS_MESH
            return NumaTopologyType.BACKPLANE
    return NumaTopologyType.DIRECT
