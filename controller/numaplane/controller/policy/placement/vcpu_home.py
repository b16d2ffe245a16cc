"""Where a multi-node VM's vCPUs go, and so where its memory lands first.

A VM's locality is the share of its memory on the nodes its vCPUs run on. When a VM is
spread over more nodes than it has vCPUs — a one-vCPU VM too big for any single node's
room, the shape numa02-like arrives with — its vCPUs can run on at most `vcpus` of
those nodes, whatever the binding says. Bound to all of the set's CPUs, the vCPU lands
wherever the host's scheduler puts it, and first-touch then fills *that* node first:
the VM is as local as its luckiest node. numaplane gives the vCPUs a home instead:

* with at least as many vCPUs as nodes, the vCPUs may run on every node of the set (each
  node can run one; all the memory is local to some vCPU);
* with fewer vCPUs than nodes, the home is the `vcpus` nodes with the most room (ties:
  the lower vCPU load, then id). vCPUs are bound to the home's CPUs and memory is claimed
  home first — filling the home up to its room, in proportion to each home node's room —
  and the rest on the other nodes of the set, nearest to the home first, again by room.
  That is where first-touch under the set's strict binding puts it (Linux and the
  simulator allocate from the bound node nearest the touching CPU), so the claim says
  where the memory will be.

Memory is still bound to the whole set: the VM needs every node of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.memory_split import split_proportionally
from numaplane.controller.policy.placement.node_sets import Distance


def vcpu_home(
    nodes: Sequence[int], vcpus: int, room: Mapping[int, int], host: HostState
) -> tuple[int, ...]:
    """The nodes of `nodes` the vCPUs should run on (all of them unless fewer vCPUs)."""
    if vcpus >= len(nodes):
        return tuple(nodes)
    ranked = sorted(
        nodes, key=lambda n: (-room.get(n, 0), host.by_id[n].vcpu_load / _cpus(host, n), n)
    )
    return tuple(sorted(ranked[:vcpus]))


def split_home_first(
    total: int,
    nodes: Sequence[int],
    home: Sequence[int],
    room: Mapping[int, int],
    distance: Distance | None = None,
) -> dict[int, int] | None:
    """`total` bytes over `nodes`: the home up to its room (proportionally), then the
    others, nearest the home first (by their smallest distance to a home node)."""
    if set(home) >= set(nodes):
        return split_proportionally(total, nodes, room)
    at_home = min(total, sum(max(0, room[n]) for n in home))
    claims = split_proportionally(at_home, home, room) or {}
    rest = total - at_home
    if rest <= 0:
        return claims
    others = [n for n in nodes if n not in home]

    def reach(n: int) -> int:
        return min(distance(h, n) for h in home) if distance is not None else 0

    for ring in sorted({reach(n) for n in others}):
        group = [n for n in others if reach(n) == ring]
        take = min(rest, sum(max(0, room[n]) for n in group))
        for n, b in (split_proportionally(take, group, room) or {}).items():
            claims[n] = claims.get(n, 0) + b
        rest -= take
        if rest <= 0:
            break
    return claims if rest <= 0 else None


def _cpus(host: HostState, node: int) -> int:
    return max(1, host.by_id[node].cpu_count)
