"""Where a VM should live on its host: the fewest, nearest nodes with room for it.

The same rule as placement (`numaplane.controller.policy.placement.node_sets`): the fewest nodes
that hold the VM's memory and vCPUs, and among those the tightest set by the distance
matrix — so a VM larger than one node gets the nearest pair, not any two nodes. The
rebalancer then prefers, among equally compact sets, the one that already holds most of
the VM's memory (fewest bytes to move), then the least CPU-loaded.

A VM's own memory and vCPUs count as room on the nodes where they are: moving a VM onto
nodes it already occupies costs nothing for what is already there.

A home has at most as many nodes as the VM has vCPUs: memory on a node where none of its
vCPUs runs is remote, so a one-vCPU VM split over two nodes would be half local at best.
"""

from __future__ import annotations

import math

from numaplane.controller.policy.placement.node_sets import (
    FitNeed,
    compact_fitting_sets,
    minimum_size,
    submatrix,
)
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState


def compact_home(
    model: HostModel, vm: VmState, *, exclude: frozenset[int] = frozenset()
) -> tuple[int, ...] | None:
    """The best node set for `vm` on its host, its vCPUs within the CPU limit; None if none.

    `exclude` keeps nodes out of the answer (an overloaded node shedding load).
    """
    ids = [n for n in model.target_ids if n not in exclude]
    if not ids:
        return None
    memory = {n: model.room(n) + vm.memory.get(n, 0) for n in ids}
    cpus = {n: max(0, math.floor(model.cpu_room(n, without=vm) + 1e-9)) for n in ids}
    need = FitNeed(memory_bytes=vm.resident, cpus=vm.vcpus)
    sets = compact_fitting_sets(ids, memory, cpus, need, submatrix(model.view.topology, ids))
    # The CPU sum above can hide a member without room for its even share of the vCPUs.
    sets = [s for s in sets if len(s) <= max(1, vm.vcpus) and cpu_room_for(model, vm, s)]
    if not sets:
        return None

    def key(nodes: tuple[int, ...]) -> tuple[int, float, tuple[int, ...]]:
        load = sum(model.nodes[n].load - vm.load_on(n) for n in nodes)
        capacity = sum(model.cpu_capacity(n) for n in nodes) or 1.0
        return (vm.outside(nodes), load / capacity, nodes)

    return min(sets, key=key)


def needed_nodes(model: HostModel, vm: VmState) -> int:
    """The fewest nodes the VM's shape needs on an empty host of this topology (memory and
    vCPUs, largest nodes first): more than that, and it is spread for no reason."""
    ids = list(model.target_ids)
    if not ids:
        return 1
    totals = {n: model.nodes[n].total for n in ids}
    cpus = {n: math.floor(model.cpu_capacity(n)) for n in ids}
    found = minimum_size(ids, totals, cpus, FitNeed(memory_bytes=vm.resident, cpus=vm.vcpus))
    return found if found is not None else len(ids)


def memory_nodes(model: HostModel, vm: VmState, share: float) -> tuple[int, ...]:
    """The fewest nodes holding at least `share` of the VM's memory, largest first."""
    held = sorted(
        ((n, b) for n, b in vm.memory.items() if model.is_target(n)),
        key=lambda item: (-item[1], item[0]),
    )
    chosen: list[int] = []
    total = 0
    for node, b in held:
        chosen.append(node)
        total += b
        if total >= share * vm.resident:
            break
    return tuple(sorted(chosen))


def cpu_room_for(model: HostModel, vm: VmState, nodes: tuple[int, ...]) -> bool:
    """`vm`'s vCPUs, spread over `nodes`, keep every one of them within its limit."""
    cpu_nodes = [n for n in nodes if model.nodes[n].cpus > 0]
    if not cpu_nodes:
        return False
    share = vm.vcpus / len(cpu_nodes)
    return all(model.cpu_room(n, without=vm) + 1e-9 >= share for n in cpu_nodes)
