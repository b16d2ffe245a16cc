"""The move that would fix one VM, with what it costs and what it buys.

Locality (a VM under the threshold), in this order:

1. **Memory follows bound vCPUs.** A VM whose vCPUs are bound to some nodes keeps that
   binding — it is the operator's or the placement's decision (CPU capacity was reserved
   there, or the pin isolates the VM) — and its memory moves onto the nodes of that
   binding where its vCPUs run, if they have room (the vCPUs are then bound to those
   nodes: within the binding, never outside it).
2. **The compact home.** Otherwise (unbound, or its bound nodes are full) the VM moves,
   memory and vCPUs, to the fewest nearest nodes with room for both (`node_choice`) —
   if they are no more nodes than its size needs (more would only spread it). When its
   memory is already there this is a vCPU re-binding and moves no byte.
3. **vCPUs follow memory.** A bound VM whose nodes are full and that fits nowhere else
   as a whole gets its vCPUs re-bound to the nodes holding most of its memory, if they
   have CPU room and are no more nodes than the VM needs: spreading its vCPUs over
   more nodes would raise the locality figure while each vCPU still reached most of
   the memory remotely.
   Before giving up on a bound VM whose node is full, a smaller VM on that node that
   has a compact home elsewhere may move there first to make room (`make_room_move`);
   the next step of the pass then moves the first VM's memory home.
4. **Pin where it runs.** An unbound VM that fits nowhere as a whole moves its memory to
   the nodes its vCPUs ran on, and is bound there (no CPU load moves).

Compaction (a VM spread over more nodes than its size needs, e.g. an unbound VM the
scheduler spread): it moves to its compact home when that raises its *access* locality
— the share of memory on each vCPU's own node — by at least `min_gain`. Its locality
figure is often already 1.0 (memory and vCPUs on the same two nodes), but each vCPU
reaches half of the memory remotely, and the room it frees on the other node is what
lets the next VM that grows be local.

CPU balance (a node above its vCPU limit): a VM loading that node moves to the compact
home elsewhere that keeps every node within its limit.

No option takes a node above its CPU limit or past its memory headroom, and after any of
them the VM's locality is at least what it was: 1 and 2 leave all its memory on its
vCPUs' nodes, 3 and 4 are taken only when they raise it. Each carries its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.node_choice import (
    compact_home,
    cpu_room_for,
    memory_nodes,
    needed_nodes,
)
from numaplane.controller.policy.rebalance.pressure import NOWHERE
from numaplane.controller.policy.rebalance.settings import RebalanceSettings

Kind = Literal["memory", "affinity"]


@dataclass(frozen=True)
class Move:
    vm: str
    kind: Kind
    to_nodes: tuple[int, ...]
    bytes: int
    """Memory to copy (0 for a vCPU re-binding)."""
    gain: float
    """What it buys: bytes made local (locality), or vCPUs taken off an overloaded node."""
    reason: str

    @property
    def gain_per_byte(self) -> float:
        return float("inf") if self.bytes == 0 else self.gain / self.bytes


def locality_after(model: HostModel, vm: VmState, move: Move) -> float:
    """`vm`'s per-vCPU locality once `move` is done, its vCPUs spread over the move's CPU
    nodes: a memory move brings all its memory into them, a re-binding none."""
    nodes = [n for n in move.to_nodes if model.nodes[n].cpus > 0]
    if not nodes or vm.resident == 0:
        return vm.locality
    if move.kind == "memory":
        return 1.0 / len(nodes)
    return vm.local_bytes(nodes) / vm.resident / len(nodes)


def no_worse(model: HostModel, option: Callable[[VmState], Move | None]) -> Callable[
    [VmState], Move | None
]:
    """`option`, less the moves that would lower their VM's per-vCPU locality: a VM that
    does not fit one node, 88 % local on it, is better left there than spread over two
    nodes where each vCPU finds half of its memory (the memory-follows rules would make
    the nodes' share 1.0 and the locality 0.5)."""

    def checked(vm: VmState) -> Move | None:
        move = option(vm)
        if move is None or locality_after(model, vm, move) < vm.locality - 1e-9:
            return None
        return move

    return checked


def follow_move(model: HostModel, vm: VmState, s: RebalanceSettings) -> Move | None:
    """Memory of a bound VM moving to the nodes where its bound vCPUs run, or None.

    The one move that changes no binding — its vCPUs run on every node they are bound
    to, and those are the targets: it only ever raises the VM's locality towards 1.0 on
    the nodes it is already bound to, so it cannot ping-pong, and a VM in its cool-down
    may take it (a re-binding one pass, its memory following once room appears later,
    is one repair, not an oscillation).
    """
    if vm.resident == 0 or vm.node_set_locality >= s.locality_threshold:
        return None
    return _to_bound_vcpus(model, vm, s, keep_binding=True)


def _to_bound_vcpus(
    model: HostModel, vm: VmState, s: RebalanceSettings, *, keep_binding: bool
) -> Move | None:
    """Move a bound VM's memory to the nodes of its bound vCPUs that it runs on (vCPUs
    re-bound to them too, which narrows the binding unless `keep_binding` forbids it)."""
    if not vm.bound:
        return None
    resident = vm.resident
    before = vm.local_bytes(vm.running)
    bound = tuple(sorted(n for n in vm.running & vm.view.cpu_nodes if model.is_target(n)))
    if keep_binding and frozenset(bound) != vm.view.cpu_nodes:
        return None
    cost = vm.outside(bound)
    if not bound or cost <= 0 or not model.fits(vm, bound):
        return None
    if resident - before < s.min_gain * resident:
        return None
    return Move(
        vm.name, "memory", bound, cost, resident - before,
        f"locality {vm.node_set_locality:.0%} < {s.locality_threshold:.0%}: move "
        f"{format_size(cost)} of {vm.name} to nodes {_ids(bound)}, where its bound vCPUs run",
    )  # fmt: skip


def locality_move(model: HostModel, vm: VmState, s: RebalanceSettings) -> Move | None:
    """The move that makes `vm` local, or None (local enough, or nowhere to go)."""
    resident = vm.resident
    if resident == 0 or vm.node_set_locality >= s.locality_threshold:
        return None
    before = vm.local_bytes(vm.running)
    why = f"locality {vm.node_set_locality:.0%} < {s.locality_threshold:.0%}"

    def worth(after: int) -> bool:
        return after - before >= s.min_gain * resident

    follow = _to_bound_vcpus(model, vm, s, keep_binding=False)
    if follow is not None:
        return follow
    home = compact_home(model, vm)
    if home is not None and len(home) > needed_nodes(model, vm) and not s.allow_spread:
        home = None  # no room for it as compact as it could be: spreading it is no fix
    if home is not None and worth(resident):
        cost = vm.outside(home)
        if cost == 0:
            return Move(
                vm.name, "affinity", home, 0, resident - before,
                f"{why}: its memory is on nodes {_ids(home)}, which have CPU room: "
                f"bind its {vm.vcpus} vCPUs there",
            )  # fmt: skip
        return Move(
            vm.name, "memory", home, cost, resident - before,
            f"{why}: move {vm.name} ({format_size(resident)}, {vm.vcpus} vCPUs) to nodes "
            f"{_ids(home)}, the fewest nearest with room; {format_size(cost)} to copy",
        )  # fmt: skip
    if vm.bound:
        held = memory_nodes(model, vm, s.locality_threshold)
        after = vm.local_bytes(n for n in held if model.nodes[n].cpus > 0)
        compact = len(held) <= needed_nodes(model, vm) or s.allow_spread
        if (
            compact
            and held != tuple(sorted(vm.running))
            and cpu_room_for(model, vm, held)
            and worth(after)
        ):
            return Move(
                vm.name, "affinity", held, 0, after - before,
                f"{why}: its bound nodes have no room for its memory; re-bind its vCPUs to "
                f"nodes {_ids(held)}, which hold {after / resident:.0%} of it",
            )  # fmt: skip
        return None
    running = tuple(sorted(n for n in vm.running if model.is_target(n)))
    cost = vm.outside(running)
    if running and cost > 0 and model.fits(vm, running) and worth(resident):
        return Move(
            vm.name, "memory", running, cost, resident - before,
            f"{why}: no node set holds all of {vm.name}; move {format_size(cost)} to nodes "
            f"{_ids(running)}, where its vCPUs run, and bind it there",
        )  # fmt: skip
    return None


def make_room_move(
    model: HostModel, vm: VmState, movable: set[str], s: RebalanceSettings
) -> Move | None:
    """Move another VM off the single node where `vm`'s bound vCPUs run, so that `vm`'s
    memory fits there; None when option 1 needs no room made, or no VM can leave."""
    resident = vm.resident
    if not vm.bound or resident == 0 or vm.node_set_locality >= s.locality_threshold:
        return None
    home = [n for n in vm.running & vm.view.cpu_nodes if model.is_target(n)]
    if len(home) != 1:
        return None
    node = home[0]
    shortfall = vm.outside(home) - model.slack(node)
    gain = resident - vm.local_bytes(vm.running)
    if shortfall <= 0 or gain < s.min_gain * resident:
        return None
    others = sorted(
        (o for o in model.vms.values() if o is not vm and o.name in movable and not o.moved),
        key=lambda o: (o.resident, o.name),
    )
    for other in others:
        if other.memory.get(node, 0) < shortfall:
            continue
        target = compact_home(model, other, exclude=frozenset({node}))
        if target is None or len(target) > needed_nodes(model, other):
            continue
        cost = other.outside(target)
        return Move(
            other.name, "memory", target, cost, gain,
            f"make room on node {node} for {vm.name} (locality {vm.node_set_locality:.0%}): move "
            f"{other.name} to nodes {_ids(target)}, {format_size(cost)} to copy",
        )  # fmt: skip
    return None


def compaction_move(model: HostModel, vm: VmState, s: RebalanceSettings) -> Move | None:
    """Bring a VM spread over more nodes than it needs onto its compact home."""
    running = [n for n in vm.running if model.is_target(n)]
    resident = vm.resident
    if resident == 0 or len(running) <= needed_nodes(model, vm):
        return None
    home = compact_home(model, vm)
    if home is None or len(home) >= len(running):
        return None
    before = access_locality(vm.memory, running)
    gain = resident * (1.0 / len(home) - before)
    if gain < s.min_gain * resident:
        return None
    cost = vm.outside(home)
    why = (
        f"{vm.name} is spread over nodes {_ids(tuple(sorted(running)))} "
        f"(access locality {before:.0%}) but fits on {len(home)}"
    )
    if cost == 0:
        bind = f"bind its {vm.vcpus} vCPUs to nodes {_ids(home)}, which hold its memory"
        return Move(vm.name, "affinity", home, 0, gain, f"{why}: {bind}")
    move = f"move it to nodes {_ids(home)}; {format_size(cost)} to copy"
    return Move(vm.name, "memory", home, cost, gain, f"{why}: {move}")


def access_locality(memory: dict[int, int], running: list[int]) -> float:
    """Share of accesses a vCPU makes to its own node, vCPUs spread evenly over `running`."""
    total = sum(memory.values())
    if total <= 0 or not running:
        return 1.0 if total <= 0 else 0.0
    return sum(memory.get(n, 0) for n in running) / (total * len(running))


def growth_move(model: HostModel, vm: VmState, s: RebalanceSettings) -> Move | None:
    """A bound VM whose guest has memory yet to touch that its nodes cannot back moves,
    whole, to a compact home with room for all of its guest; None otherwise.

    Its locality says nothing is wrong (all it has is local) while its guest waits for
    memory its binding cannot give it — the simulator blocks it, a real guest swaps or
    its pages go where the binding forbids. Moving it while it is small copies little.
    """
    guest = vm.view.guest_bytes
    if not vm.bound or guest is None or guest <= vm.resident:
        return None
    nodes = tuple(sorted(n for n in vm.running if model.is_target(n)))
    untouched = guest - vm.resident
    if not nodes or untouched <= sum(model.room(n) for n in nodes):
        return None
    grown = replace(vm, memory={**vm.memory, NOWHERE: untouched})
    home = compact_home(model, grown)
    if home is None or home == nodes or len(home) > needed_nodes(model, grown):
        return None
    cost = vm.outside(home)
    return Move(
        vm.name, "memory", home, cost, untouched,
        f"{vm.name}'s guest has {format_size(untouched)} still to touch and nodes "
        f"{_ids(nodes)} have room for {format_size(sum(model.room(n) for n in nodes))}: "
        f"move it to nodes {_ids(home)}, which hold all {format_size(guest)} of it; "
        f"{format_size(cost)} to copy",
    )  # fmt: skip


def growth_room_move(
    model: HostModel, vm: VmState, movable: set[str], s: RebalanceSettings
) -> Move | None:
    """Room for a bound VM's growth where it is: another VM on its nodes that has a
    compact home elsewhere moves there, freeing what the guest still has to touch; None
    when it needs none (`growth_move` applies, or nothing is short) or none can go."""
    guest = vm.view.guest_bytes
    if not vm.bound or guest is None or guest <= vm.resident:
        return None
    nodes = frozenset(n for n in vm.running if model.is_target(n))
    shortfall = guest - vm.resident - sum(model.room(n) for n in nodes)
    if not nodes or shortfall <= 0:
        return None
    others = sorted(
        (o for o in model.vms.values() if o is not vm and o.name in movable and not o.moved),
        key=lambda o: (o.resident, o.name),
    )
    for other in others:
        if other.local_bytes(nodes) < shortfall:
            continue
        target = compact_home(model, other, exclude=nodes)
        if target is None or len(target) > needed_nodes(model, other):
            continue
        cost = other.outside(target)
        return Move(
            other.name, "memory", target, cost, float(shortfall),
            f"make room on nodes {_ids(tuple(sorted(nodes)))} for {vm.name}'s guest to grow "
            f"({format_size(guest - vm.resident)} still to touch): move {other.name} to "
            f"nodes {_ids(target)}, {format_size(cost)} to copy",
        )  # fmt: skip
    return None


def balance_move(model: HostModel, vm: VmState, node: int, s: RebalanceSettings) -> Move | None:
    """Move `vm` off the overloaded `node` to nodes with CPU room; None if none has."""
    share = vm.load_on(node)
    if share <= 0:
        return None
    home = compact_home(model, vm, exclude=frozenset({node}))
    if home is None:
        return None
    relief = min(share, model.overload(node, s.balance_tolerance))
    if relief <= 0:
        return None
    cost = vm.outside(home)
    n = model.nodes[node]
    return Move(
        vm.name, "affinity" if cost == 0 else "memory", home, cost, relief,
        f"node {node} carries {n.load:.1f} vCPUs on {n.cpus} CPUs (limit "
        f"{s.cpu_overcommit:g} per CPU): move {vm.name} ({vm.vcpus} vCPUs) to nodes "
        f"{_ids(home)}" + (f", {format_size(cost)} to copy" if cost else ""),
    )  # fmt: skip


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
