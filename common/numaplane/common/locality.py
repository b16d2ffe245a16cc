"""Locality: how much of a VM's memory its vCPUs find on their own node.

The one number every report carries, every view shows and the rebalancer raises, so it
is defined once, here: per vCPU, the share of the VM's memory on the node where that
vCPU ran, averaged over the vCPUs — and, as agents measure it, over the report interval
(`vcpus_by_node` is vCPU-time per node, so a vCPU that spent half the interval on each
of two nodes counts half on each). Remote memory counts nothing whatever its distance:
the figure is a plain share (the benchmark's performance model weighs distances).

Why per vCPU: the older figure — the share of memory on the nodes where the vCPUs run —
is 1.0 for a VM whose vCPUs run on every node, however much of its memory each vCPU has
to reach remotely. A VM spread evenly over two nodes, its memory split the same way,
scores 1.0 there and 0.5 here; a VM bound to one node with its memory there scores 1.0
in both. That older figure is kept, as `node_set_share`, where it has a use of its own:
the share of memory a move onto a given node set makes local (what the rebalancer's
"memory follows the vCPUs bound there" rule tests). A VM with no memory has locality
1.0 (nothing is remote); one whose vCPUs ran nowhere known, 0.0 (nothing can be
credited). Checked by tests/unit/test_locality.py.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping


def locality(memory_by_node: Mapping[int, int], vcpus_by_node: Mapping[int, float]) -> float:
    """Mean over vCPUs of the share of the VM's memory on the node where each ran."""
    total = sum(b for b in memory_by_node.values() if b > 0)
    if total <= 0:
        return 1.0
    vcpus = sum(v for v in vcpus_by_node.values() if v > 0)
    if vcpus <= 0:
        return 0.0
    local = sum(v * memory_by_node.get(n, 0) for n, v in vcpus_by_node.items() if v > 0)
    return min(1.0, local / (total * vcpus))


def node_set_share(memory_by_node: Mapping[int, int], nodes: Collection[int]) -> float:
    """Share of the VM's memory on `nodes` (1.0 for a VM with no memory)."""
    total = sum(memory_by_node.values())
    if total <= 0:
        return 1.0
    return sum(b for n, b in memory_by_node.items() if n in nodes) / total


def vcpus_by_node(
    cpus: Iterable[int], node_of: Callable[[int], int | None]
) -> dict[int, float]:
    """vCPUs per node from one CPU per vCPU (where each last ran); unknown CPUs are left out."""
    out: dict[int, float] = {}
    for cpu in cpus:
        node = node_of(cpu)
        if node is not None:
            out[node] = out.get(node, 0.0) + 1.0
    return out


def spread_evenly(vcpus: float, nodes: Iterable[int]) -> dict[int, float]:
    """`vcpus` spread evenly over `nodes` (where the position of each vCPU is not known)."""
    ids = sorted(set(nodes))
    return {n: vcpus / len(ids) for n in ids} if ids else {}


def weighted_mean_locality(items: Iterable[tuple[float, int]]) -> float:
    """Memory-weighted mean of (locality, memory_bytes) pairs; 0.0 when empty."""
    num = 0.0
    den = 0
    for loc, mem in items:
        num += loc * mem
        den += mem
    return num / den if den else 0.0
