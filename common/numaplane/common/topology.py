"""The NUMA topology of one host, as plain immutable data.

Node ids are the host's own and may be sparse (a host can have nodes 0 and 2 only);
the distance matrix is indexed by position in `nodes`, so every lookup goes through
`distance(a, b)` with node ids. A memoryless node has `memory_total_bytes == 0`;
offline CPUs stay attached to their node so that an operator can see them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

LOCAL_DISTANCE = 10
"""SLIT distance of a node to itself; remote latency factor is distance / 10."""


class TopologyError(ValueError):
    """A topology that cannot describe a real machine (names the problem)."""


@dataclass(frozen=True)
class NumaNode:
    id: int
    cpus: tuple[int, ...]
    """Online CPUs of the node, sorted."""
    memory_total_bytes: int
    memory_free_bytes: int
    offline_cpus: tuple[int, ...] = ()
    """CPUs of the node that are offline: never placed on, still shown."""

    @property
    def memoryless(self) -> bool:
        return self.memory_total_bytes == 0


@dataclass(frozen=True)
class Topology:
    nodes: tuple[NumaNode, ...]
    distances: tuple[tuple[int, ...], ...]
    """distances[i][j]: distance from nodes[i] to nodes[j]."""
    _index: Mapping[int, int] = field(init=False, repr=False, compare=False)
    _cpu_node: Mapping[int, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        validate_topology(self.nodes, self.distances)
        object.__setattr__(self, "_index", {n.id: i for i, n in enumerate(self.nodes)})
        object.__setattr__(
            self, "_cpu_node", {cpu: n.id for n in self.nodes for cpu in n.cpus}
        )

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(n.id for n in self.nodes)

    @property
    def cpu_node_ids(self) -> frozenset[int]:
        """Nodes with at least one online CPU (memory-only nodes left out)."""
        return frozenset(n.id for n in self.nodes if n.cpus)

    def node(self, node_id: int) -> NumaNode:
        try:
            return self.nodes[self._index[node_id]]
        except KeyError:
            raise TopologyError(f"node {node_id} is not in this topology") from None

    def has_node(self, node_id: int) -> bool:
        return node_id in self._index

    def distance(self, a: int, b: int) -> int:
        return self.distances[self._index[a]][self._index[b]]

    def node_of_cpu(self, cpu: int) -> int | None:
        """The node of an online CPU, or None for an unknown or offline CPU."""
        return self._cpu_node.get(cpu)

    def nodes_of_cpus(self, cpus: Iterable[int]) -> frozenset[int]:
        return frozenset(n for c in cpus if (n := self._cpu_node.get(c)) is not None)

    @property
    def cpu_count(self) -> int:
        return sum(len(n.cpus) for n in self.nodes)

    @property
    def memory_total_bytes(self) -> int:
        return sum(n.memory_total_bytes for n in self.nodes)

    @property
    def memory_free_bytes(self) -> int:
        return sum(n.memory_free_bytes for n in self.nodes)

    def with_free(self, free_by_node: Mapping[int, int]) -> Topology:
        """The same topology with new free-memory figures (from a report)."""
        nodes = tuple(
            NumaNode(
                id=n.id,
                cpus=n.cpus,
                offline_cpus=n.offline_cpus,
                memory_total_bytes=n.memory_total_bytes,
                memory_free_bytes=free_by_node.get(n.id, n.memory_free_bytes),
            )
            for n in self.nodes
        )
        return Topology(nodes=nodes, distances=self.distances)


def validate_topology(
    nodes: tuple[NumaNode, ...], distances: tuple[tuple[int, ...], ...]
) -> None:
    """Raise TopologyError naming the first thing that no real machine could have."""
    if not nodes:
        raise TopologyError("a topology needs at least one NUMA node")
    ids = [n.id for n in nodes]
    if len(set(ids)) != len(ids):
        raise TopologyError(f"duplicate node ids in {ids}")
    seen_cpus: set[int] = set()
    for n in nodes:
        if n.id < 0:
            raise TopologyError(f"node id {n.id} is negative")
        if n.memory_total_bytes < 0 or n.memory_free_bytes < 0:
            raise TopologyError(f"node {n.id}: negative memory")
        if n.memory_free_bytes > n.memory_total_bytes:
            raise TopologyError(
                f"node {n.id}: free memory {n.memory_free_bytes} exceeds total "
                f"{n.memory_total_bytes}"
            )
        for cpu in (*n.cpus, *n.offline_cpus):
            if cpu < 0:
                raise TopologyError(f"node {n.id}: negative CPU id {cpu}")
            if cpu in seen_cpus:
                raise TopologyError(f"CPU {cpu} belongs to more than one node")
            seen_cpus.add(cpu)
    if len(distances) != len(nodes) or any(len(row) != len(nodes) for row in distances):
        raise TopologyError(
            f"distance matrix must be {len(nodes)}x{len(nodes)}, "
            f"got {len(distances)} rows of lengths {[len(r) for r in distances]}"
        )
    for i, row in enumerate(distances):
        if row[i] != LOCAL_DISTANCE:
            raise TopologyError(
                f"distance of node {nodes[i].id} to itself is {row[i]}, must be {LOCAL_DISTANCE}"
            )
        for j, d in enumerate(row):
            if i != j and d <= LOCAL_DISTANCE:
                raise TopologyError(
                    f"distance from node {nodes[i].id} to node {nodes[j].id} is {d}; "
                    f"remote distances must exceed {LOCAL_DISTANCE}"
                )
