"""Homes for floating VMs: every floating VM of a host given a home in one go.

A VM *floats* when nothing binds its vCPUs: they may run on every CPU node of its host
(a VM placed without NUMA awareness, one started outside numaplane, one whose binding an
administrator never set). The scheduler spreads its vCPUs over idle nodes and its memory
lands wherever it was first touched, so each vCPU reaches much of it remotely — while
the share of its memory on the nodes its vCPUs use is 1.0, which is why only the
per-vCPU locality (`numaplane.common.locality`) shows it.

Repairing such VMs one at a time stalls as soon as the host is full: a VM can leave the
nodes it straddles only for a node with CPU room for all of it, and on a host whose
vCPUs fill its CPUs no node has that room until another VM has left it (four 4-vCPU
VMs on two 8-CPU nodes, each spread 2 + 2, are a deadlock for a greedy repair). So the
floating VMs of a host that are under the threshold are re-placed together, the way a
placement would put them on the host with their memory where it already is:

1. They are taken off the host, vCPUs and memory alike (the others — bound VMs, floating
   VMs local enough — stay where they are), so that two VMs that must trade places can
   in one plan: on a host whose free memory is less than either would move, neither could
   go first.
2. Each CPU node may carry its CPUs x max(`cpu_overcommit`, the host's vCPUs per CPU)
   vCPUs: on an overcommitted host every node takes its share of the overcommit, no more.
3. Largest first (vCPUs, then memory, then the VM whose memory is most on one node), each
   takes the fewest nearest nodes with CPU room for an even share of its vCPUs on each
   and memory room for what of it is elsewhere (`placement.node_sets`), preferring the
   set that already holds most of its memory, then the one where fewest other floating
   VMs' memory would have to make way, then the least loaded (two VMs that could share
   a node and leave the other idle take one each), then the lowest ids.
4. Its per-vCPU locality there — 1/k on k nodes once its memory is inside them, with
   its vCPUs spread over them — must beat its locality now by `min_gain`, or it stays
   (and keeps its room; the others are planned again without it).

A homed VM's move is a vCPU re-binding when its memory is already at home (no byte
copied), else its memory and vCPUs move there. The copies of one plan go together, under
the host's budget as one move (they may depend on each other's room; the executors move
pages in chunks, so a trade of places proceeds on both sides at once). If the budget
cannot take them this pass, the vCPUs alone are re-bound where that by itself raises
locality by `min_gain` — their memory then follows the binding in later passes
(`options.follow_move`, which a cool-down allows) — and the rest wait for a pass with
budget (a full bucket takes a plan of any size: `budget`).

Why this cannot ping-pong: a homed VM is bound from then on, so it never floats again;
only the rules for bound VMs (memory following its vCPUs, compaction, balance) apply to
it afterwards, and each of those strictly improves something. A VM the operator pinned
(`vm create --host/--nodes`) never floats: its binding is the operator's.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.node_sets import (
    FitNeed,
    compact_fitting_sets,
    submatrix,
)
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.options import Move
from numaplane.controller.policy.rebalance.settings import RebalanceSettings

Allows = Callable[[int], bool]
"""Whether the host's budget allows copying this many bytes now (and, if so, charges it)."""


@dataclass(frozen=True)
class _Home:
    nodes: tuple[int, ...]
    copy: int
    """Bytes of the VM outside `nodes`."""
    split: dict[int, int]
    """Its memory per node of `nodes` once moved there."""


def needs_home(vm: VmState, s: RebalanceSettings) -> bool:
    """A floating VM with memory whose per-vCPU locality is under the threshold."""
    return (
        vm.view.floating
        and not vm.bound
        and not vm.moved
        and vm.resident > 0
        and vm.locality < s.locality_threshold
    )


def floating_homes(
    model: HostModel, candidates: list[VmState], s: RebalanceSettings, take: Allows
) -> list[Move]:
    """Give `candidates` (floating VMs of `model`'s host) homes together; the moves made.

    Changes `model` as the moves are made (memory moved, vCPUs re-bound), so the rest of
    the pass plans on the host as it will be.
    """
    vms = sorted((vm for vm in candidates if needs_home(vm, s)), key=_largest_first)
    staying: set[str] = set()
    plan: dict[str, _Home] = {}
    for _ in range(2 * len(vms) + 1):
        plan, fits = _assign(model, vms, staying, s)
        stays = {vm.name for vm in vms if vm.name not in plan}
        if plan and not (fits and _executable(model, vms, plan)):
            # A VM that stays holds room an earlier home counted on, or the copies
            # would wait on each other with no room to start in: the VM that copies
            # most stays too, and the others are planned again.
            stays.add(max(plan, key=lambda name: (plan[name].copy, name)))
        if stays == staying:
            break
        staying = stays
    if not plan or not (fits and _executable(model, vms, plan)):
        return []
    total = sum(home.copy for home in plan.values())
    if total and not take(total):
        return _rebind_only(model, vms, plan, s)
    return [_carry_out(model, vm, plan[vm.name]) for vm in vms if vm.name in plan]


def _assign(
    model: HostModel, vms: list[VmState], staying: set[str], s: RebalanceSettings
) -> tuple[dict[str, _Home], bool]:
    """Homes for the VMs of `vms` not in `staying`, on the host as it would be with all of
    them gone (only homes worth their move), and whether they all fit once the VMs left
    without a home keep the memory they have."""
    ids = list(model.target_ids)
    capacity = _capacities(model, s)
    load = {n: model.nodes[n].load for n in ids}
    # At the end each node keeps its headroom, or — inside it already — what it has now.
    room = {n: max(0, model.slack(n)) for n in ids}
    floating = dict.fromkeys(ids, 0)
    for vm in vms:
        if vm.name in staying:
            continue
        for n in vm.load_nodes:
            if n in load:
                load[n] -= vm.load_on(n)
        for n, b in vm.memory.items():
            if n in room:
                room[n] += b
                floating[n] += b
    plan: dict[str, _Home] = {}
    for vm in vms:
        if vm.name in staying:
            continue
        home = _home(model, vm, ids, capacity, load, room, floating)
        if home is None or 1.0 / len(home.nodes) - vm.locality < s.min_gain:
            _put_back(vm, load, room)  # it stays where it is
            continue
        for n, b in home.split.items():
            room[n] -= b
        for n in home.nodes:
            load[n] += vm.vcpus / len(home.nodes)
        plan[vm.name] = home
    return plan, all(r >= 0 for r in room.values())


def _executable(model: HostModel, vms: list[VmState], plan: dict[str, _Home]) -> bool:
    """The copies of `plan` can all be made by movers running side by side, each moving
    pages as room appears (what one frees another takes), from the free memory the host
    has now: a trade of places needs some room to start in."""
    free = {n: max(0, model.nodes[n].free) for n in model.nodes}
    out = {
        vm.name: {n: b for n, b in vm.memory.items() if n not in plan[vm.name].nodes}
        for vm in vms
        if vm.name in plan
    }
    into = {
        vm.name: {n: b - vm.memory.get(n, 0) for n, b in plan[vm.name].split.items()}
        for vm in vms
        if vm.name in plan
    }
    progress = True
    while progress:
        progress = False
        for name, wants in into.items():
            for dst in wants:
                for src in out[name]:
                    step = min(wants[dst], out[name][src], free[dst])
                    if step > 0:
                        wants[dst] -= step
                        out[name][src] -= step
                        free[dst] -= step
                        free[src] = free.get(src, 0) + step
                        progress = True
    return all(b <= 0 for wants in into.values() for b in wants.values())


def _put_back(vm: VmState, load: dict[int, float], room: dict[int, int]) -> None:
    for n in vm.load_nodes:
        if n in load:
            load[n] += vm.load_on(n)
    for n, b in vm.memory.items():
        if n in room:
            room[n] -= b


def _capacities(model: HostModel, s: RebalanceSettings) -> dict[int, float]:
    """vCPUs each CPU node may carry: its CPUs times the overcommit the host has anyway."""
    ids = model.target_ids
    cpus = sum(model.nodes[n].cpus for n in ids)
    vcpus = sum(model.nodes[n].load for n in ids)
    ratio = max(s.cpu_overcommit, vcpus / cpus if cpus else 0.0)
    return {n: model.nodes[n].cpus * ratio for n in ids}


def _largest_first(vm: VmState) -> tuple[int, int, float, str]:
    biggest_share = max(vm.memory.values()) / vm.resident if vm.resident else 0.0
    return (-vm.vcpus, -vm.resident, -biggest_share, vm.name)


def _home(
    model: HostModel,
    vm: VmState,
    ids: list[int],
    capacity: dict[int, float],
    load: dict[int, float],
    room: dict[int, int],
    floating: dict[int, int],
) -> _Home | None:
    """The fewest nearest nodes with room for `vm`, most of its memory there first;
    `floating` is the memory of the VMs being homed, per node, as it is now."""
    cpus = {n: max(0, math.floor(capacity[n] - load[n] + 1e-9)) for n in ids}
    memory = {n: max(0, room[n]) for n in ids}
    need = FitNeed(memory_bytes=vm.resident, cpus=vm.vcpus)
    sets = compact_fitting_sets(ids, memory, cpus, need, submatrix(model.view.topology, ids))
    fitting = [
        nodes
        for nodes in sets
        if len(nodes) <= max(1, vm.vcpus)
        and all(capacity[n] - load[n] + 1e-9 >= vm.vcpus / len(nodes) for n in nodes)
    ]
    if not fitting:
        return None
    def displaced(nodes: tuple[int, ...]) -> int:
        """Memory other floating VMs have there now: a home on free nodes moves no one."""
        return sum(floating[n] - vm.memory.get(n, 0) for n in nodes)

    def busy(nodes: tuple[int, ...]) -> float:
        """vCPUs already homed there per vCPU it may carry: equal homes go to the idler."""
        return sum(load[n] for n in nodes) / (sum(capacity[n] for n in nodes) or 1.0)

    best = min(
        fitting, key=lambda nodes: (vm.outside(nodes), displaced(nodes), busy(nodes), nodes)
    )
    return _Home(best, vm.outside(best), _split(model, vm, best, memory))


def _split(
    model: HostModel, vm: VmState, nodes: tuple[int, ...], room: dict[int, int]
) -> dict[int, int]:
    """Where `vm`'s memory lands in `nodes`: what is there stays, the rest goes to the
    member nearest to where it was, the one with most room first (as `HostModel.move`)."""
    split = {n: vm.memory.get(n, 0) for n in nodes}
    left = {n: room[n] - split[n] for n in nodes}
    for src in sorted((n for n in vm.memory if n not in nodes), key=lambda n: -vm.memory[n]):
        amount = vm.memory[src]
        for dst in sorted(nodes, key=lambda n: (model.distance(src, n), -left[n], n)):
            put = min(amount, max(0, left[dst]))
            split[dst] += put
            left[dst] -= put
            amount -= put
        if amount:  # only rounding: the set was chosen with room for all of it
            split[min(nodes, key=lambda n: (model.distance(src, n), n))] += amount
    return split


def _reason(vm: VmState, home: _Home) -> str:
    k = len(home.nodes)
    nodes = ",".join(map(str, home.nodes))
    return (
        f"{vm.name} floats (its vCPUs may run on every node) at locality {vm.locality:.0%}; "
        f"its home is node{'s' if k > 1 else ''} {nodes}"
    )


def _carry_out(model: HostModel, vm: VmState, home: _Home) -> Move:
    """`vm`'s move home, made on the model: memory to its split, vCPUs re-bound."""
    gain = (1.0 / len(home.nodes) - vm.locality) * vm.resident
    why = _reason(vm, home)
    if home.copy == 0:
        model.rebind(vm, home.nodes)
        return Move(vm.name, "affinity", home.nodes, 0, gain,
                    f"{why}, which holds all its memory: bind its {vm.vcpus} vCPUs there")
    model.place(vm, home.split)
    model.rebind(vm, home.nodes)
    return Move(vm.name, "memory", home.nodes, home.copy, gain,
                f"{why}: move {format_size(home.copy)} of it there and bind its vCPUs")


def _rebind_only(
    model: HostModel, vms: list[VmState], plan: dict[str, _Home], s: RebalanceSettings
) -> list[Move]:
    """The budget cannot take the copies this pass: the re-bindings alone, where they
    raise locality by themselves (their memory follows the binding in later passes)."""
    out: list[Move] = []
    for vm in vms:
        home = plan.get(vm.name)
        if home is None:
            continue
        rebound = (vm.resident - home.copy) / vm.resident / len(home.nodes)
        if home.copy and rebound - vm.locality < s.min_gain:
            continue
        gain = (rebound - vm.locality) * vm.resident
        model.rebind(vm, home.nodes)
        out.append(Move(
            vm.name, "affinity", home.nodes, 0, gain,
            f"{_reason(vm, home)}, which holds {1 - home.copy / vm.resident:.0%} of its "
            f"memory: bind its vCPUs there now; the rest ({format_size(home.copy)}) follows "
            "as the budget allows",
        ))  # fmt: skip
    return out
