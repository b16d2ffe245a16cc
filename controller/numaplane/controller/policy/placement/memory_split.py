"""Splitting a VM's memory over a node set, three ways, each never above a node's room.

- `split_proportionally`: in proportion to each node's available memory (numaplane): the
  nodes of the set end equally full, so none is left a sliver.
- `split_evenly`: equal shares, a node that cannot take its share giving the rest to the
  others (water-filling). This is what Xen's page allocator does for a domain whose
  node-affinity spans several nodes: it cycles through them allocation by allocation
  (`xen/common/page_alloc.c`, the domain's `last_alloc_node`).
- `fill_in_order`: each node in turn as full as it can go (numad's accounting of a
  request: it "consumes" nodes in its preferred order).

All three return bytes per node summing to `total`, or None when the nodes cannot hold it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def split_proportionally(
    total: int, nodes: Sequence[int], available: Mapping[int, int]
) -> dict[int, int] | None:
    """Shares in proportion to `available`, exact to the byte (largest remainder, then id)."""
    room = sum(max(0, available[n]) for n in nodes)
    if total > room:
        return None
    if total <= 0:
        return {}
    shares = {n: total * max(0, available[n]) // room for n in nodes}
    left = total - sum(shares.values())
    by_remainder = sorted(nodes, key=lambda n: (-((total * max(0, available[n])) % room), n))
    for n in by_remainder[:left]:
        shares[n] += 1
    return {n: b for n, b in shares.items() if b > 0}


def split_evenly(
    total: int, nodes: Sequence[int], available: Mapping[int, int]
) -> dict[int, int] | None:
    """Equal shares capped by each node's room; what a capped node cannot take goes to the rest."""
    room = {n: max(0, available[n]) for n in nodes}
    if total > sum(room.values()):
        return None
    shares = dict.fromkeys(nodes, 0)
    remaining = total
    # Smallest room first, so that the odd bytes of a division go to the roomiest nodes.
    open_nodes = sorted(nodes, key=lambda n: (room[n], n))
    while remaining > 0:
        # Each pass either places everything or fills at least one node to its room.
        per_node, extra = divmod(remaining, len(open_nodes))
        still_open = []
        for i, n in enumerate(open_nodes):
            want = per_node + (1 if i >= len(open_nodes) - extra else 0)
            give = min(want, room[n] - shares[n])
            shares[n] += give
            remaining -= give
            if shares[n] < room[n]:
                still_open.append(n)
        open_nodes = still_open
    return {n: b for n, b in shares.items() if b > 0}


def fill_in_order(
    total: int, nodes: Sequence[int], available: Mapping[int, int]
) -> dict[int, int] | None:
    """Fill `nodes` in the order given, each up to its room."""
    shares: dict[int, int] = {}
    remaining = total
    for n in nodes:
        if remaining <= 0:
            break
        give = min(remaining, max(0, available[n]))
        if give > 0:
            shares[n] = give
            remaining -= give
    return shares if remaining <= 0 else None
