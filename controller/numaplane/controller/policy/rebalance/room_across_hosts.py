"""Making room across hosts: other VMs of a full host live-migrate away so a stuck VM fits.

A VM can stay under the locality threshold with the cluster full of room: every node
set of its host that could hold it is full of VMs that are themselves local (so nothing
on the host moves them: `options.make_room_move` only moves a VM to another node set of
the same host, and those are full too), and no other host has room for the VM whole
(`_locality_host_moves`). Without this rule it waits for a departure on its host — in
the benchmark's `rebalance-churn`, 38 periods for a 10 GiB VM while the other host had
8 GiB free on each of three nodes.

The repair: send a few *other* VMs of the host, each whole, to other hosts where they
are wholly local on a compact node set (`pressure.locality_host_target`, the same
target rule as a host move for locality), which leaves a compact home on the host with
room for the stuck VM's memory and CPU room for its vCPUs; then the VM's own move there
is the one `options.locality_move` plans for it — exactly the move the next pass's
locality rule finds once the room exists, so a repair split over passes (the budget)
resumes without anything remembered between them.

Which VMs: the cheapest set, by bytes copied — the evicted VMs whole plus the stuck VM's
bytes outside its new home — of at most `MAX_EVICTIONS` VMs that hold memory or vCPU
load on some candidate home (node sets of the size the VM needs). Candidate sets are
screened by arithmetic (freed memory and vCPU room on the home), then tried, cheapest
estimate first, on copies of the models (the evicted VMs arrive on their targets one
after the other, so two never count on the same room), until no untried set is
estimated cheaper than the best plan found (at most `MAX_TRIALS` tries). Ties go to
the fewest evictions, then to VM names and node ids (deterministic).

When the budget cannot carry a plan out in one pass, the planner starts it only on a
host where no VM is still taking memory (`NumaplaneRebalancer._settled`): room freed
there between passes would go to that VM's first touches.

When it is worth it: it copies whole VMs to buy locality for another, so — like a host
move for locality — it is taken only when the local bytes it gains (the stuck VM's
remote bytes, plus any of an evicted VM's that become local on its target) are at least
`host_move_min_gain` x the bytes copied. No step lowers any VM's locality: evicted VMs
end wholly local, the stuck VM ends wholly local.

Pure: reads and changes only `HostModel`s (copies of them while searching).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from itertools import combinations

from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.node_choice import needed_nodes
from numaplane.controller.policy.rebalance.options import Move, locality_move
from numaplane.controller.policy.rebalance.pressure import locality_host_target, migrate_in_models
from numaplane.controller.policy.rebalance.settings import RebalanceSettings

MAX_EVICTIONS = 3
"""Most VMs sent away to make room for one: each is a live migration with its own
downtime, and more would rarely pass the gain test anyway (a guard on the search)."""
MAX_CANDIDATES = 16
"""VMs considered per candidate home, smallest first (bounds the subsets enumerated)."""
MAX_TRIALS = 64
"""Candidate sets tried on model copies per stuck VM (bounds a pass's work)."""


@dataclass(frozen=True)
class Eviction:
    vm: str
    to_host: str
    to_nodes: tuple[int, ...]
    bytes: int
    """The VM's resident memory: a live migration copies all of it."""
    gain: int
    """Bytes of it made local by the move (0 when it was already local)."""


@dataclass(frozen=True)
class RoomPlan:
    vm: str
    """The stuck VM."""
    host: str
    evictions: tuple[Eviction, ...]
    """In the order they are carried out (largest first)."""
    move: Move
    """The stuck VM's own move once the room exists (as `locality_move` plans it)."""
    locality: float
    """The stuck VM's locality before."""

    @property
    def cost(self) -> int:
        return sum(e.bytes for e in self.evictions) + self.move.bytes

    @property
    def gain(self) -> int:
        return sum(e.gain for e in self.evictions) + int(self.move.gain)

    def key(self) -> tuple[int, int, tuple[str, ...], tuple[int, ...]]:
        """Cheapest first, then the fewest evictions, then by name (deterministic)."""
        names = tuple(sorted(e.vm for e in self.evictions))
        return (self.cost, len(self.evictions), names, self.move.to_nodes)


def room_across_hosts(
    models: Mapping[str, HostModel],
    source: HostModel,
    vm: VmState,
    evictable: Sequence[VmState],
    ctx: RebalanceContext,
    s: RebalanceSettings,
) -> RoomPlan | None:
    """The cheapest plan that sends some of `evictable` (VMs of `source` the caller may
    live-migrate) to other hosts so that `vm` becomes wholly local on a compact home on
    `source`; None when no plan within the bounds exists or none is worth its bytes.

    The caller has established that `vm` has no move without evictions. `models` holds
    every host that may receive a VM; none of them is changed.
    """
    if vm.resident == 0 or not ctx.can_live_migrate(source.name):
        return None
    size = needed_nodes(source, vm)
    screened: list[tuple[int, tuple[str, ...], tuple[VmState, ...]]] = []
    seen: set[tuple[str, ...]] = set()
    for home in combinations(source.target_ids, size):
        if len(home) > max(1, vm.vcpus):
            continue
        near = sorted(
            (o for o in evictable if o is not vm and _touches(o, home)),
            key=lambda o: (o.resident, o.name),
        )[:MAX_CANDIDATES]
        for count in range(1, MAX_EVICTIONS + 1):
            for group in combinations(near, count):
                if not _room_for(source, vm, home, group):
                    continue
                names = tuple(sorted(o.name for o in group))
                estimate = sum(o.resident for o in group) + vm.outside(home)
                screened.append((estimate, names, group))
    screened.sort(key=lambda c: (c[0], len(c[1]), c[1]))
    best: RoomPlan | None = None
    trials = 0
    for estimate, names, group in screened:
        if best is not None and estimate > best.cost:
            break  # every later set copies more than the best plan found
        if names in seen:
            continue
        seen.add(names)
        trials += 1
        if trials > MAX_TRIALS:
            break
        plan = _trial(models, source, vm, group, ctx, s)
        if plan is None or plan.gain < s.host_move_min_gain * plan.cost:
            continue
        if best is None or plan.key() < best.key():
            best = plan
    return best


def _touches(vm: VmState, nodes: Iterable[int]) -> bool:
    """`vm` holds memory or vCPU load on one of `nodes`: sending it away frees some."""
    return any(vm.memory.get(n, 0) > 0 or vm.load_on(n) > 0 for n in nodes)


def _room_for(
    model: HostModel, vm: VmState, home: tuple[int, ...], group: Iterable[VmState]
) -> bool:
    """Arithmetic screen: with `group` gone, `home` has memory room for `vm` (within the
    headroom) and CPU room for an even share of its vCPUs on each node."""
    leaving = tuple(group)
    memory = 0
    for n in home:
        freed = sum(o.memory.get(n, 0) for o in leaving)
        memory += max(0, model.slack(n) + freed) + vm.memory.get(n, 0)
    if memory < vm.resident:
        return False
    share = vm.vcpus / len(home)
    for n in home:
        room = model.cpu_room(n, without=vm) + sum(o.load_on(n) for o in leaving)
        if room + 1e-9 < share:
            return False
    return True


def _trial(
    models: Mapping[str, HostModel],
    source: HostModel,
    vm: VmState,
    group: Sequence[VmState],
    ctx: RebalanceContext,
    s: RebalanceSettings,
) -> RoomPlan | None:
    """Carry the evictions out on copies of the models; the plan if `vm` then has a move
    that makes it wholly local on a compact home."""
    src = _copy(source)
    trial = dict(models)
    trial[source.name] = src
    copied = {source.name}
    evictions: list[Eviction] = []
    for other in sorted(group, key=lambda o: (-o.resident, o.name)):
        mover = src.vms[other.name]
        target = locality_host_target(mover, source.name, trial, ctx, s)
        if target is None:
            return None
        to_host, nodes = target
        if to_host not in copied:
            trial[to_host] = _copy(trial[to_host])
            copied.add(to_host)
        dest = trial[to_host]
        nbytes = mover.resident
        gain = nbytes - mover.local_bytes(mover.running)
        migrate_in_models(src, dest, mover, nodes, nbytes)
        evictions.append(Eviction(other.name, to_host, nodes, nbytes, gain))
    stuck = src.vms[vm.name]
    move = locality_move(src, stuck, s)
    if not is_full_repair(src, stuck, move):
        return None
    assert move is not None
    return RoomPlan(vm.name, source.name, tuple(evictions), move, vm.node_set_locality)


def is_full_repair(model: HostModel, vm: VmState, move: Move | None) -> bool:
    """`move` leaves all of `vm` local, on no more nodes than its shape needs."""
    if move is None:
        return False
    return move.gain >= vm.outside(vm.running) and len(move.to_nodes) <= needed_nodes(model, vm)


def _copy(model: HostModel) -> HostModel:
    """A copy of `model` the search may change (the view is immutable and shared)."""
    return HostModel(
        view=model.view,
        nodes={n: replace(state) for n, state in model.nodes.items()},
        vms={name: replace(v, memory=dict(v.memory)) for name, v in model.vms.items()},
        headroom_fraction=model.headroom_fraction,
        cpu_overcommit=model.cpu_overcommit,
    )
