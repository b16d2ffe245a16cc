"""The move that would fix one VM, with what it costs and what it buys.

Locality (a VM under the threshold), in this order:

1. **Memory follows bound vCPUs.** A VM whose vCPUs are bound to some nodes keeps that
   binding — it is the operator's or the placement's decision (CPU capacity was reserved
   there, or the pin isolates the VM) — and its memory moves onto the nodes of that
   binding where its vCPUs run, if they have room (the vCPUs are then bound to those
   nodes: within the binding, never outside it).
2. **The compact home.** Otherwise (unbound, or its bound nodes are full) the VM moves,
   memory and vCPUs, to the fewest nearest nodes with room for both (`node_choice`).
   When its memory is already there this is a vCPU re-binding and moves no byte.
3. **vCPUs follow memory.** A bound VM whose nodes are full and that fits nowhere else
   as a whole gets its vCPUs re-bound to the nodes holding most of its memory, if they
   have CPU room: that is the only move left that makes it local.
4. **Pin where it runs.** An unbound VM that fits nowhere as a whole moves its memory to
   the nodes its vCPUs ran on, and is bound there (no CPU load moves).

CPU balance (a node above its vCPU limit): a VM loading that node moves to the compact
home elsewhere that keeps every node within its limit.

No option takes a node above its CPU limit or past its memory headroom, and after any of
them the VM's locality is at least what it was: 1 and 2 leave all its memory on its
vCPUs' nodes, 3 and 4 are taken only when they raise it. Each carries its reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from common.units import format_size
from controller.policy.rebalance.host_model import HostModel, VmState
from controller.policy.rebalance.node_choice import compact_home, cpu_room_for, memory_nodes
from controller.policy.rebalance.settings import RebalanceSettings

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


def locality_move(model: HostModel, vm: VmState, s: RebalanceSettings) -> Move | None:
    """The move that makes `vm` local, or None (local enough, or nowhere to go)."""
    resident = vm.resident
    if resident == 0 or vm.locality >= s.locality_threshold:
        return None
    before = vm.local_bytes(vm.running)
    why = f"locality {vm.locality:.0%} < {s.locality_threshold:.0%}"

    def worth(after: int) -> bool:
        return after - before >= s.min_gain * resident

    if vm.bound:
        bound = tuple(sorted(n for n in vm.running & vm.view.cpu_nodes if model.is_target(n)))
        cost = vm.outside(bound)
        if bound and cost > 0 and model.fits(vm, bound) and worth(resident):
            return Move(
                vm.name, "memory", bound, cost, resident - before,
                f"{why}: move {format_size(cost)} of {vm.name} to nodes {_ids(bound)}, "
                f"where its bound vCPUs run",
            )  # fmt: skip
    home = compact_home(model, vm)
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
        if held != tuple(sorted(vm.running)) and cpu_room_for(model, vm, held) and worth(after):
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
