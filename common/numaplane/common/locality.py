"""Locality: the share of a VM's memory on the nodes where its vCPUs run.

It is the one number the rebalancer maximizes and every report carries, so it
is defined once, here. A VM with no memory (or no known vCPU placement) has
locality 1.0 when it has no memory at all and 0.0 when its vCPUs run nowhere known:
the first has nothing to be remote, the second cannot be credited.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping


def locality(memory_by_node: Mapping[int, int], cpu_nodes: Collection[int]) -> float:
    total = sum(memory_by_node.values())
    if total <= 0:
        return 1.0
    local = sum(b for n, b in memory_by_node.items() if n in cpu_nodes)
    return local / total


def weighted_mean_locality(items: Iterable[tuple[float, int]]) -> float:
    """Memory-weighted mean of (locality, memory_bytes) pairs; 0.0 when empty."""
    num = 0.0
    den = 0
    for loc, mem in items:
        num += loc * mem
        den += mem
    return num / den if den else 0.0
