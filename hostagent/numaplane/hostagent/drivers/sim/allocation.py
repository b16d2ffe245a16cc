"""Where a page goes: the allocation order of Linux's page allocator, reduced to nodes.

A page touched by a CPU on node `t` is taken from the first node in an order that
depends on the VM's binding (see `binding.py`); within a set, nodes are tried nearest
first by SLIT distance — the kernel's zonelist order — and, between equally near nodes,
the one with most free memory first (so two SNC siblings fill evenly). Ties beyond that
go to the lower node id, which keeps the simulator deterministic.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from numaplane.hostagent.drivers.sim.binding import MemoryBinding


def nearest_first(
    origin: int,
    candidates: Iterable[int],
    distances: Sequence[Sequence[int]],
    free: Mapping[int, int],
) -> list[int]:
    """Candidates by distance from `origin`, then most free memory, then node id."""
    return sorted(candidates, key=lambda n: (distances[origin][n], -free[n], n))


def allocation_order(
    touch_node: int,
    binding: MemoryBinding,
    all_nodes: Collection[int],
    distances: Sequence[Sequence[int]],
    free: Mapping[int, int],
) -> list[int]:
    """Nodes to take a page from, in order, for a page touched on `touch_node`."""
    if binding.mode == "strict":
        return nearest_first(touch_node, binding.nodes, distances, free)
    if binding.mode == "preferred":
        preferred = nearest_first(touch_node, binding.nodes, distances, free)
        others = (n for n in all_nodes if n not in binding.nodes)
        return preferred + nearest_first(preferred[0], others, distances, free)
    return nearest_first(touch_node, all_nodes, distances, free)


def split_proportionally(total: int, weights: Mapping[int, int]) -> dict[int, int]:
    """Split `total` bytes in proportion to integer weights, exactly (largest remainder).

    Remainders go to the largest fractional parts, ties to the lower key, so the split is
    deterministic and always sums to `total`.
    """
    weight_sum = sum(w for w in weights.values() if w > 0)
    if total <= 0 or weight_sum == 0:
        return {}
    shares = {k: total * w // weight_sum for k, w in weights.items() if w > 0}
    left = total - sum(shares.values())
    by_remainder = sorted(
        (k for k in shares), key=lambda k: (-((total * weights[k]) % weight_sum), k)
    )
    for k in by_remainder[:left]:
        shares[k] += 1
    return shares
