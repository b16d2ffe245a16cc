"""What a simulated host is made of: nodes (CPUs, memory) and their SLIT distances.

A spec is plain immutable data, checked on construction with the same rules as a real
topology (`numaplane.common.topology.validate_topology`), so a simulated host can never describe a
machine that the controller would reject. CPU ids are numbered consecutively across
nodes (node 0 owns 0..c0-1, node 1 the next c1, ...), as on most real machines; the last
`offline_cpus` of a node's range are offline.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.topology import NumaNode, Topology, TopologyError, validate_topology


class SimSpecError(ValueError):
    """A host description that cannot be simulated; `path` names the offending field."""

    def __init__(self, path: tuple[str | int, ...], reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{format_path(path)}: {reason}" if path else reason)


def format_path(path: tuple[str | int, ...]) -> str:
    """`("nodes", 1, "cpus")` -> `nodes[1].cpus`."""
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


@dataclass(frozen=True)
class SimNodeSpec:
    cpus: int
    """Online CPUs of the node."""
    memory_bytes: int
    """0 for a memoryless node."""
    offline_cpus: int = 0
    """CPUs of the node that are offline (numbered after its online ones)."""
    bandwidth_bytes_per_s: float | None = None
    """Memory bandwidth of the node (STREAM-like); None = the benchmark model's default."""


@dataclass(frozen=True)
class SimHostSpec:
    name: str
    nodes: tuple[SimNodeSpec, ...]
    distances: tuple[tuple[int, ...], ...]
    """distances[i][j]: SLIT distance from node i to node j (node ids are 0..n-1)."""
    touch_rate_bytes_per_s: float | None = None
    """How fast a VM touches its memory; None = all at once when it starts."""
    balloon_rate_bytes_per_s: float | None = None
    """How fast a balloon inflates or deflates; None = at once."""

    def __post_init__(self) -> None:
        if not self.name:
            raise SimSpecError(("name",), "a host needs a name")
        for i, node in enumerate(self.nodes):
            if node.cpus < 0 or node.offline_cpus < 0:
                raise SimSpecError(("nodes", i, "cpus"), "CPU counts cannot be negative")
            if node.memory_bytes < 0:
                raise SimSpecError(("nodes", i, "memory"), "memory cannot be negative")
            if node.bandwidth_bytes_per_s is not None and node.bandwidth_bytes_per_s <= 0:
                raise SimSpecError(("nodes", i, "bandwidth"), "bandwidth must be > 0")
        if self.cpu_count == 0:
            raise SimSpecError(("nodes",), "a host needs at least one online CPU")
        if not any(n.memory_bytes for n in self.nodes):
            raise SimSpecError(("nodes",), "a host needs at least one node with memory")
        for key, rate in (
            ("touch_rate", self.touch_rate_bytes_per_s),
            ("balloon_rate", self.balloon_rate_bytes_per_s),
        ):
            if rate is not None and rate <= 0:
                raise SimSpecError((key,), "a rate must be > 0 (omit it for 'at once')")
        try:
            validate_topology(self._numa_nodes(), self.distances)
        except TopologyError as e:
            raise SimSpecError(("distances",), str(e)) from None

    @property
    def node_ids(self) -> tuple[int, ...]:
        return tuple(range(len(self.nodes)))

    @property
    def cpu_count(self) -> int:
        return sum(n.cpus for n in self.nodes)

    def cpus_of_node(self, node_id: int) -> tuple[int, ...]:
        """Online CPU ids of a node."""
        first = sum(n.cpus + n.offline_cpus for n in self.nodes[:node_id])
        return tuple(range(first, first + self.nodes[node_id].cpus))

    def offline_cpus_of_node(self, node_id: int) -> tuple[int, ...]:
        node = self.nodes[node_id]
        first = sum(n.cpus + n.offline_cpus for n in self.nodes[:node_id]) + node.cpus
        return tuple(range(first, first + node.offline_cpus))

    def cpus_of_nodes(self, node_ids: frozenset[int] | tuple[int, ...]) -> tuple[int, ...]:
        return tuple(c for n in sorted(set(node_ids)) for c in self.cpus_of_node(n))

    def topology(self, free_by_node: dict[int, int] | None = None) -> Topology:
        """The host's topology; free memory = total unless `free_by_node` says otherwise."""
        return Topology(nodes=self._numa_nodes(free_by_node), distances=self.distances)

    def _numa_nodes(self, free_by_node: dict[int, int] | None = None) -> tuple[NumaNode, ...]:
        free = free_by_node or {}
        return tuple(
            NumaNode(
                id=i,
                cpus=self.cpus_of_node(i),
                offline_cpus=self.offline_cpus_of_node(i),
                memory_total_bytes=n.memory_bytes,
                memory_free_bytes=free.get(i, n.memory_bytes),
            )
            for i, n in enumerate(self.nodes)
        )
