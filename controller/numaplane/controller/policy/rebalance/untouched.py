"""Moving a VM off a host before it touches memory the host cannot back.

A guest faults its memory in as it uses it: a VM whose guest has more memory than is
resident (`VmView.guest_bytes`, the balloon's actual size, above its resident memory)
will take more of its host. When a host has run out of memory (under the pressure line)
and the memory its guests have yet to touch is more than it has free, they cannot all
get it: on a real host the kernel reclaims and
swaps, in the simulator the guest is blocked, and either way whatever room a departure
or a move frees is taken by those first touches before anything else (the rebalancer's
other rules would plan into room that is not really there).

The cheapest repair is to move such a VM while it has touched little: a live migration
copies what is resident, and the rest is touched on the target, where room for all of it
is claimed (`HostMove.arrival` covers the whole guest). So the host's VMs with memory
still to touch move, least resident first, each to a host with a compact home for its
whole guest, until what the staying guests have left to touch fits on the nodes their
vCPUs run on (`_short_by`; memory a guest touches elsewhere would be remote, so free
memory on the wrong nodes does not count). A move is taken only when what it buys —
memory that becomes backed, plus remote memory made local — is at least
`host_move_min_gain` x what it copies, the trade locality host moves make.

A host that was out of memory at the previous pass stays short while its guests have
more to touch than it has free, even when departures have since lifted it above the
pressure line: its guests were blocked on memory, and what the departures freed goes to
their first touches within the period, before any repair could use it (in the
benchmark's rebalance-churn at 3300 s, six VMs left a full host while the burst waiting
on it still had 36 GiB to touch; the repair took 4 periods instead of 2).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Literal

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.pressure import (
    NOWHERE,
    locality_host_target,
    planned_host_move,
)
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.controller.policy.types import HostMove, HostView, VmView


def untouched_bytes(vm: VmView, unknown: Literal["none", "configured"] = "none") -> int:
    """Memory the VM's guest has and has not touched yet.

    When the guest's size is unknown, `unknown` says which way to err: "none" (0: this
    rule moves nothing it cannot see) or "configured" (its configured size: a rule that
    must not count on room a guest might still take)."""
    size = vm.guest_bytes
    if size is None:
        size = vm.memory_bytes if unknown == "configured" else 0
    return max(0, size - sum(vm.memory_by_node.values()))


def host_short(host: HostView, s: RebalanceSettings, was_short: bool = False) -> bool:
    """Whether the host is out of memory (under the pressure line) — or `was_short` at the
    previous pass — while its guests still have more memory to touch than it has free.

    Both, because hosts are often overcommitted by design — guests that never touch all
    of their memory — and that alone is no reason to move anything: only a host that has
    actually run out, with guests still growing, is.
    """
    untouched = sum(untouched_bytes(vm) for vm in host.vms)
    total = sum(n.memory_total_bytes for n in host.topology.nodes)
    free = sum(n.memory_free_bytes for n in host.topology.nodes)
    free -= sum(host.claimed_by_node.values())
    ran_out = was_short or free < s.pressure_free_fraction * total
    return ran_out and untouched > 0 and untouched > free


def _short_by(model: HostModel, leaving: VmState | None = None) -> int:
    """Memory the host's guests have yet to touch that will not land on the nodes their
    vCPUs run on: each guest's is fitted into the free memory of its own nodes, most
    resident guest first (the ones this rule keeps), as the model stands — or as it
    would stand once `leaving` has left."""
    room = {n: max(0, node.free) for n, node in model.nodes.items()}
    staying = list(model.vms.values())
    if leaving is not None:
        for n, b in leaving.memory.items():
            room[n] = room.get(n, 0) + b
        staying.remove(leaving)
    short = 0
    for vm in sorted(staying, key=lambda v: (-v.resident, v.name)):
        need = untouched_bytes(vm.view)
        for n in sorted(vm.running or room, key=lambda n: (-room.get(n, 0), n)):
            take = min(need, room.get(n, 0))
            room[n] = room.get(n, 0) - take
            need -= take
        short += need
    return short


def untouched_moves(
    models: Mapping[str, HostModel],
    ctx: RebalanceContext,
    s: RebalanceSettings,
    movable: Callable[[VmState], bool],
    affordable: Callable[[str, str, int], bool],
    was_short: frozenset[str] = frozenset(),
) -> list[tuple[HostMove, int]]:
    """The moves, each with the bytes it buys; applied to `models` as they are planned.
    `was_short` names the hosts that were short at the previous pass (`host_short`).

    `movable` says whether the pass may move a VM at all (busy, cool-down, pins);
    `affordable(source, target, bytes)` whether both hosts' budgets allow the copy (and
    charges them when it does).
    """
    out: list[tuple[HostMove, int]] = []
    for name in sorted(models):
        model = models[name]
        if not ctx.can_live_migrate(name) or not host_short(model.view, s, name in was_short):
            continue
        candidates = sorted(
            (
                vm
                for vm in model.vms.values()
                if untouched_bytes(vm.view) > 0
                and not vm.moved
                and not vm.view.pinned_host
                and movable(vm)
            ),
            key=lambda vm: (vm.resident, -untouched_bytes(vm.view), vm.name),
        )
        for vm in candidates:
            short = _short_by(model)
            if short <= 0:
                break
            if _short_by(model, leaving=vm) >= short:
                continue  # its leaving would not lessen the shortfall (it fits at home)
            move = _move(vm, model, models, ctx, s, affordable)
            if move is not None:
                out.append(move)
    return out


def _move(
    vm: VmState,
    model: HostModel,
    models: Mapping[str, HostModel],
    ctx: RebalanceContext,
    s: RebalanceSettings,
    affordable: Callable[[str, str, int], bool],
) -> tuple[HostMove, int] | None:
    untouched = untouched_bytes(vm.view)
    resident = vm.resident
    remote = resident - vm.local_bytes(vm.running)
    gain = untouched + remote
    if gain < s.host_move_min_gain * resident:
        return None
    whole = resident + untouched
    # The VM as a target sees it: its whole guest, on none of the target's nodes.
    arriving = VmState(
        view=vm.view,
        memory={NOWHERE: whole},
        running=frozenset(),
        load_nodes=frozenset(),
        bound=True,
    )
    target_of = locality_host_target(arriving, model.name, models, ctx, s)
    if target_of is None:
        return None
    to_host, nodes = target_of
    if not affordable(model.name, to_host, resident):
        return None
    reason = (
        f"{model.name}'s guests have more memory to touch than it has free: live-migrate "
        f"{vm.name} now, while it has {format_size(resident)} to copy, to {to_host} nodes "
        f"{','.join(map(str, nodes))}, which hold all {format_size(whole)} of its guest "
        f"({format_size(untouched)} not yet touched)"
    )
    action = planned_host_move(
        model, models[to_host], vm, nodes, copied=resident, reason=reason, arriving=whole
    )
    return action, gain
