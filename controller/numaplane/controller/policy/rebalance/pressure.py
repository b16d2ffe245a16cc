"""Moving a VM to another host when its host stays short of memory that balloons cannot free.

A host is *under pressure* when its free memory is below `pressure_free_fraction` of its
total. Ballooning (`numaplane.controller.policy.balloon`) is the first answer: it can take back
every VM's memory down to that VM's reservation. When even that would not lift the host to the line
— the *deficit* is larger than what balloons may reclaim — and this has lasted
`pressure_grace_s` (the balloon policy had its chance, a departure did not fix it), a VM
leaves the host by live migration.

Which VM: removing VM v frees its memory and also removes its reclaimable part, so the
host is relieved when v's reservation covers the unrelievable part
(line - free - reclaimable). The smallest such VM moves (fewest bytes); when none is big
enough alone, the one with the largest reservation. Where to: a host that can live-migrate,
is up and schedulable, is not under pressure itself and stays above the line after the
VM arrives, on the compact node set placement would choose (`node_choice`); among those,
the host left with the most free memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.node_choice import compact_home, needed_nodes
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.controller.policy.types import HostMove

NOWHERE = -1
"""A node id no host has: where an arriving VM's memory is before it arrives."""


@dataclass(frozen=True)
class Pressure:
    host: str
    free: int
    line: int
    reclaimable: int

    @property
    def unrelievable(self) -> int:
        """What balloons could not free even down to every reservation."""
        return max(0, self.line - self.free - self.reclaimable)


def pressure_of(model: HostModel, ctx: RebalanceContext, s: RebalanceSettings) -> Pressure | None:
    """The host's pressure if it is under the line; None otherwise."""
    line = int(s.pressure_free_fraction * model.total_memory())
    free = model.total_free()
    if free >= line:
        return None
    reclaimable = sum(
        max(0, vm.resident - ctx.reservations.get(vm.name, 0)) for vm in model.vms.values()
    )
    return Pressure(model.name, free, line, reclaimable)


@dataclass(frozen=True)
class HostChoice:
    vm: VmState
    to_host: str
    to_nodes: tuple[int, ...]
    reason: str


def choose_host_move(
    pressure: Pressure,
    models: Mapping[str, HostModel],
    eligible: list[VmState],
    ctx: RebalanceContext,
    s: RebalanceSettings,
    since: float,
    now: float,
) -> HostChoice | None:
    """The VM to move off the pressured host and where; None when no move helps."""
    def reservation(vm: VmState) -> int:
        return ctx.reservations.get(vm.name, 0)

    enough = [vm for vm in eligible if reservation(vm) >= pressure.unrelievable]
    if enough:
        order = sorted(enough, key=lambda vm: (vm.resident, vm.name))
    else:
        order = sorted(eligible, key=lambda vm: (-reservation(vm), vm.resident, vm.name))
    for vm in order:
        target = _target(vm, pressure.host, models, ctx, s)
        if target is None:
            continue
        to_host, nodes = target
        reason = (
            f"host {pressure.host} has {format_size(pressure.free)} free, under its "
            f"{format_size(pressure.line)} line for {now - since:.0f} s, and balloons "
            f"cannot reclaim {format_size(pressure.unrelievable)} of it above the VMs' "
            f"reservations: live-migrate {vm.name} ({format_size(vm.resident)}) to "
            f"{to_host} nodes {','.join(map(str, nodes))}"
        )
        return HostChoice(vm, to_host, nodes, reason)
    return None


def locality_host_target(
    vm: VmState,
    source: str,
    models: Mapping[str, HostModel],
    ctx: RebalanceContext,
    s: RebalanceSettings,
) -> tuple[str, tuple[int, ...]] | None:
    """Another host where `vm` would be wholly local on a compact node set (no more nodes
    than its shape needs), as `_target` chooses it; None when there is none."""
    return _target(vm, source, models, ctx, s, compact=True)


def _target(
    vm: VmState,
    source: str,
    models: Mapping[str, HostModel],
    ctx: RebalanceContext,
    s: RebalanceSettings,
    *,
    compact: bool = False,
) -> tuple[str, tuple[int, ...]] | None:
    best: tuple[int, str, tuple[int, ...]] | None = None
    for name, model in models.items():
        host = model.view
        if name == source or not host.schedulable or not ctx.can_live_migrate(name):
            continue
        line = int(s.pressure_free_fraction * model.total_memory())
        left = model.total_free() - vm.resident
        if left < line:
            continue
        # The VM as the target would see it: its size, on none of the target's nodes.
        stranger = VmState(
            view=vm.view,
            memory={NOWHERE: vm.resident},
            running=frozenset(),
            load_nodes=frozenset(),
            bound=True,
        )
        nodes = compact_home(model, stranger)
        if nodes is None or (compact and len(nodes) > needed_nodes(model, stranger)):
            continue
        if best is None or left > best[0]:
            best = (left, name, nodes)
    return None if best is None else (best[1], best[2])


def arrival_split(model: HostModel, nodes: tuple[int, ...], nbytes: int) -> dict[int, int]:
    """How `nbytes` arriving on `nodes` spread: in proportion to each node's room."""
    rooms = {n: model.room(n) for n in nodes}
    total = sum(rooms.values())
    if total <= 0:
        return {}
    split = {n: nbytes * r // total for n, r in rooms.items()}
    left = nbytes - sum(split.values())
    for n in sorted(rooms, key=lambda n: -rooms[n]):
        if left <= 0:
            break
        add = min(left, rooms[n] - split[n])
        split[n] += add
        left -= add
    return {n: b for n, b in split.items() if b}


def migrate_in_models(
    source: HostModel, target: HostModel, vm: VmState, nodes: tuple[int, ...], nbytes: int
) -> dict[int, int]:
    """Carry out a live migration on the models: `vm` leaves `source`, and `nbytes` of it
    land on `nodes` of `target` (`arrival_split`). Returns that split."""
    split = arrival_split(target, nodes, nbytes)
    source.remove(vm)
    target.arrive(vm, split, nodes)
    return split


def planned_host_move(
    source: HostModel,
    target: HostModel,
    vm: VmState,
    nodes: tuple[int, ...],
    *,
    copied: int,
    reason: str,
    arriving: int | None = None,
) -> HostMove:
    """`migrate_in_models`, and the action that does it: `copied` bytes go over the wire,
    and room is claimed on the target for `arriving` (default: what is copied; more for a
    guest that will touch memory it has not yet)."""
    split = migrate_in_models(source, target, vm, nodes, copied if arriving is None else arriving)
    return HostMove(
        vm=vm.name, host=source.name, to_host=target.name, to_nodes=nodes,
        bytes_to_move=copied, reason=reason, arrival=tuple(sorted(split.items())),
    )  # fmt: skip
