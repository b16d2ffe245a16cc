"""`numaplane`: the rebalancer the leader runs each period, and the benchmark each tick.

A pass, per host that is up:

0. **Floating VMs.** The VMs nothing binds whose per-vCPU locality is under the
   threshold are given homes together, as a placement would (`floating`): vCPU
   re-bindings where their memory already is, memory moves under the budget otherwise.
   Together, because on a full host no single one of them has room to move first.
1. **Locality.** Every VM under the locality threshold that is not cooling down (moved
   less than `cooldown_s` ago) and has no move in flight gets its best move (`options`).
   Moves are taken greedily by locality gained per byte copied — vCPU re-bindings, which
   copy nothing, first — while the host's migration budget (`budget`) allows. After each
   accepted move the host model changes and the remaining VMs' moves are recomputed, so
   two VMs are never sent into the same free memory.
1b. **Growth.** A bound VM whose guest has memory still to touch that its nodes cannot
   back moves to a compact home with room for all of its guest (`options.growth_move`).
2. **Compaction.** With the budget left, VMs spread over more nodes than they need move
   to their compact home, by access locality gained per byte.
3. **CPU balance.** While a node carries more vCPUs than its limit (with tolerance),
   the VM whose move relieves it most per byte goes to nodes with CPU room.
4. **Host pressure.** A host short of memory that ballooning cannot free within the VMs'
   reservations, for long enough, sends one VM to another host (`pressure`).
4b. **CPU across hosts.** Floating VMs leave a host that runs more vCPUs than its CPUs
   for one with CPUs idle, wholly local there (`cpu_across_hosts`): nobody placed them,
   so their host is numaplane's to choose too.
5. **Locality across hosts.** A VM still under the threshold — nothing on its host can
   make it local: the nodes that could hold it are full and no VM can make room — and
   with at least `host_move_min_gain` of it remote live-migrates to another host where
   it is wholly local on a compact node set (`locality_host_moves`). Without this it
   would wait for a departure on its host however much room the cluster has. A move
   larger than a host's whole bucket goes alone on its hosts and leaves their buckets in
   debt for the next pass, so it is planned last, after step 6 (its room on the target
   held meanwhile): the cheaper repairs get the budget first (in rebalance-churn at
   1810 s, a 5 GiB room-making repair went before an 8 GiB host move instead of a pass
   after it).
6. **Room across hosts.** A VM still under the threshold after all that (no room on its
   host, no host that takes it whole) may have *other* VMs of its host live-migrate
   away, each wholly local on its new host, so that it fits on a compact home on its own
   host (`room_across_hosts`): the cheapest such set, taken when the local bytes gained
   are at least `host_move_min_gain` x all it copies and — when a host move could take
   the VM whole — more per byte copied than that host move. Its own move follows in the
   same pass if the budget allows; otherwise the evictions the budget allows go now, and
   a later pass carries on (the locality rule finds the VM's move once the room exists).

Why it converges and cannot ping-pong: every move leaves its VM with at least the
locality it had (1.0 for memory moves and for host moves for locality) and never takes
a node over its CPU limit or past its memory headroom, and every move strictly improves
something — a VM's locality or its access locality by at least `min_gain` of its memory,
a node's overload, or a host's pressure. The exception is an eviction that makes room
across hosts (its VM was local and stays so): it is planned only as part of a repair
that raises the cluster's local bytes by at least `host_move_min_gain` of all it copies.
On a steady cluster each quantity can improve only finitely often, and the cool-down
keeps a moved VM still while the effects of its move are observed.

The object keeps state between passes — each host's budget bucket and when each host's
pressure began — so the controller keeps one for as long as it leads, and the benchmark
one per run.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, replace

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.budget import MigrationBudget
from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.cpu_across_hosts import cpu_host_moves, cpu_overloaded
from numaplane.controller.policy.rebalance.floating import floating_homes
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.options import (
    Move,
    balance_move,
    compaction_move,
    follow_move,
    growth_move,
    growth_room_move,
    locality_after,
    locality_move,
    make_room_move,
    no_worse,
)
from numaplane.controller.policy.rebalance.pressure import (
    arrival_split,
    choose_host_move,
    locality_host_target,
    planned_host_move,
    pressure_of,
)
from numaplane.controller.policy.rebalance.room_across_hosts import (
    RoomPlan,
    is_full_repair,
    room_across_hosts,
)
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.controller.policy.rebalance.untouched import (
    host_short,
    untouched_bytes,
    untouched_moves,
)
from numaplane.controller.policy.types import (
    Action,
    AffinityChange,
    ClusterView,
    HostView,
    MemoryMove,
)

NAME = "numaplane"
_Option = Callable[[VmState], Move | None]

MAX_MOVES_PER_HOST = 64
"""A bound on one pass's moves on one host (a guard, not a tuning knob)."""


@dataclass(frozen=True)
class _Hold:
    """Room on `target` kept, during a pass, for a VM's host move planned at its end: a
    placeholder of its size arrived there, and released (exactly) before the move is
    planned."""

    target: HostModel
    state: VmState
    hedged: dict[int, int]
    """What the arrival added to the target nodes' `uncertain` (taken back on release)."""

    @classmethod
    def take(cls, target: HostModel, vm: VmState, nodes: tuple[int, ...], size: int) -> _Hold:
        placeholder = VmState(vm.view, {}, frozenset(), frozenset(), bound=True)
        before = {n: target.nodes[n].uncertain for n in nodes}
        target.arrive(placeholder, arrival_split(target, nodes, size), nodes)
        hedged = {n: target.nodes[n].uncertain - before[n] for n in nodes}
        return cls(target, placeholder, hedged)

    def release(self) -> None:
        self.target.remove(self.state)
        for n, added in self.hedged.items():
            self.target.nodes[n].uncertain -= added


@dataclass(frozen=True)
class PlannedAction:
    action: Action
    gain: float
    """Bytes made local (locality), vCPUs relieved (balance), or bytes freed (host)."""


class NumaplaneRebalancer:
    name = NAME

    def __init__(self, settings: RebalanceSettings | None = None) -> None:
        self.settings = settings or RebalanceSettings()
        s = self.settings
        self.budget = MigrationBudget(s.bandwidth_bytes_per_s, s.budget_bytes)
        self._pressure_since: dict[str, float] = {}
        self._resident_seen: dict[str, int] = {}
        self._growing: frozenset[str] = frozenset()
        self._short_now: frozenset[str] = frozenset()
        self._short_before: frozenset[str] = frozenset()
        """Hosts `untouched.host_short` at the previous pass (whose guests were blocked)."""

    def plan(
        self, cluster: ClusterView, context: RebalanceContext | None = None
    ) -> tuple[Action, ...]:
        return tuple(p.action for p in self.plan_actions(cluster, context))

    def plan_actions(
        self, cluster: ClusterView, context: RebalanceContext | None = None
    ) -> list[PlannedAction]:
        ctx = context or RebalanceContext()
        s = self.settings
        up = [h for h in cluster.hosts if h.state != "down"]
        self.budget.start_pass([h.name for h in up], cluster.now)
        self._observe_growth(up)
        self._short_before = self._short_now
        self._short_now = frozenset(h.name for h in up if host_short(h, s))
        # A host under pressure balloons cannot relieve may send a VM anywhere: then every
        # host is modelled.
        short = any(_unrelievable(h, ctx, s) for h in up)
        models = {
            h.name: HostModel.of(
                h, headroom_fraction=s.node_headroom_fraction, cpu_overcommit=s.cpu_overcommit
            )
            for h in up
            if short or self._needs_model(h)
        }
        out: list[PlannedAction] = []
        for model in list(models.values()):
            eligible = [vm for vm in model.vms.values() if self._may_move(vm, cluster, ctx)]
            cooling = [vm for vm in model.vms.values() if self._cooling(vm, cluster, ctx)]
            out += self._floating(model, eligible)
            out += self._following(model, cooling)
            out += self._locality(model, eligible)
            out += self._growth(model, eligible)
            out += self._compaction(model, eligible)
            out += self._balance(model, eligible)
        out += self._untouched_moves(models, up, cluster, ctx)
        out += self._host_moves(models, cluster, ctx)
        out += self._cpu_host_moves(models, up, cluster, ctx)
        # A host move larger than a whole period's budget goes alone on its hosts and
        # leaves their buckets in debt: it is planned last, after the cheaper repairs
        # (`_room_across_hosts`) had the budget; until then its room on the target is
        # held, so those repairs do not take it.
        holds: dict[str, _Hold] = {}
        out += self._locality_host_moves(models, up, cluster, ctx, holds)
        out += self._room_across_hosts(models, up, cluster, ctx, holds)
        for hold in holds.values():
            hold.release()
        out += self._locality_host_moves(models, up, cluster, ctx)
        return out

    def _model_every_host(self, models: dict[str, HostModel], up: list[HostView]) -> None:
        """Model the hosts the pass skipped: a VM leaving its host may go to any of them."""
        s = self.settings
        for h in up:
            if h.name not in models:
                models[h.name] = HostModel.of(
                    h, headroom_fraction=s.node_headroom_fraction, cpu_overcommit=s.cpu_overcommit
                )

    def _untouched_moves(
        self,
        models: dict[str, HostModel],
        up: list[HostView],
        cluster: ClusterView,
        ctx: RebalanceContext,
    ) -> list[PlannedAction]:
        """VMs leaving a host whose guests have more memory to touch than it has free
        (`untouched`), while they have little resident to copy."""
        s = self.settings
        if not s.untouched_moves or not any(self._short(m.view) for m in models.values()):
            return []
        self._model_every_host(models, up)

        def movable(vm: VmState) -> bool:  # nothing resident is no reason to stay here
            return not _held(vm, ctx) and not self._cooling_down(vm, cluster)

        def affordable(source: str, target: str, size: int) -> bool:
            return self.budget.take((source, target), size)

        return [
            PlannedAction(action, float(gain))
            for action, gain in untouched_moves(
                models, ctx, s, movable, affordable, self._short_before
            )
        ]

    def _short(self, host: HostView) -> bool:
        return host_short(host, self.settings, host.name in self._short_before)

    def _observe_growth(self, up: list[HostView]) -> None:
        """Which VMs are still taking memory: resident grown since the last pass, or — a VM
        not seen before — below its configured size (a guest first-touches its memory over
        time). Room made over several passes on a host with such a VM would be taken by
        its first touches before the VM it was made for could move in."""
        seen: dict[str, int] = {}
        growing: set[str] = set()
        for host in up:
            for vm in host.vms:
                resident = sum(vm.memory_by_node.values())
                before = self._resident_seen.get(vm.name)
                if (before is None and resident < vm.memory_bytes) or (
                    before is not None and resident > before
                ):
                    growing.add(vm.name)
                seen[vm.name] = resident
        self._resident_seen = seen
        self._growing = frozenset(growing)

    def _needs_model(self, host: HostView) -> bool:
        """Cheap test on the view: could this host have a move?

        A host needs the full model when a VM is under the threshold, a VM spread over
        nodes would fit on one, or a node may be out of balance (load counted as
        `HostModel` counts it). Skipping the rest keeps a pass
        over a large, mostly settled cluster fast.
        """
        s = self.settings
        if s.untouched_moves and self._short(host):
            return True
        load: dict[int, float] = {}
        biggest = max(n.memory_total_bytes for n in host.topology.nodes)
        most_cpus = max(len(n.cpus) for n in host.topology.nodes)
        for vm in host.vms:
            if vm.node_set_locality < s.locality_threshold:
                return True
            if s.home_floating and vm.floating and vm.locality < s.locality_threshold:
                return True  # a floating VM (`floating`)
            waiting = (vm.guest_bytes or 0) - sum(vm.memory_by_node.values())
            if waiting > 0 and waiting > sum(host.available_bytes(n) for n in vm.running_nodes):
                return True  # a guest its nodes cannot let grow (`options.growth_move`)
            spread = len(vm.running_nodes) > 1 and vm.vcpus <= most_cpus * s.cpu_overcommit
            if spread and sum(vm.memory_by_node.values()) <= biggest:
                return True  # a compaction candidate (it would fit on one node)
            nodes = vm.running_nodes or vm.cpu_nodes
            for n in nodes:
                load[n] = load.get(n, 0.0) + vm.vcpus / len(nodes)
        if s.cpu_host_moves and any(vm.floating for vm in host.vms):
            vcpus = sum(vm.vcpus for vm in host.vms)
            if vcpus > host.topology.cpu_count * s.cpu_overcommit:
                return True  # floating VMs may leave for idle CPUs (`cpu_across_hosts`)
        limit = s.cpu_overcommit * (1.0 + s.balance_tolerance)
        return any(load.get(n.id, 0.0) > len(n.cpus) * limit for n in host.topology.nodes)

    # -- rules -------------------------------------------------------------------------

    def _may_move(self, vm: VmState, cluster: ClusterView, ctx: RebalanceContext) -> bool:
        """Whether the pass may move `vm` at all: it has memory, is not held (busy, or its
        nodes the operator's), and is not within its cool-down."""
        return vm.resident > 0 and not _held(vm, ctx) and not self._cooling_down(vm, cluster)

    def _cooling(self, vm: VmState, cluster: ClusterView, ctx: RebalanceContext) -> bool:
        """In its cool-down and otherwise movable: only `follow_move` may move it."""
        return vm.resident > 0 and not _held(vm, ctx) and self._cooling_down(vm, cluster)

    def _cooling_down(self, vm: VmState, cluster: ClusterView) -> bool:
        moved = cluster.last_moved.get(vm.name)
        return moved is not None and cluster.now - moved < self.settings.cooldown_s

    def _floating(self, model: HostModel, eligible: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        if not s.home_floating:
            return []

        def take(nbytes: int) -> bool:
            return self.budget.take((model.name,), nbytes)

        return [
            PlannedAction(_action(model.name, move), move.gain)
            for move in floating_homes(model, eligible, s, take)
        ]

    def _following(self, model: HostModel, cooling: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        return self._greedy(model, cooling, no_worse(model, lambda vm: follow_move(model, vm, s)))

    def _locality(self, model: HostModel, eligible: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        out = self._greedy(model, eligible, no_worse(model, lambda vm: locality_move(model, vm, s)))
        # Then VMs whose own node is full: another VM leaves it first, then they move.
        movable = {vm.name for vm in eligible}
        for _ in range(MAX_MOVES_PER_HOST):
            step = self._greedy(
                model, eligible, lambda vm: make_room_move(model, vm, movable, s), limit=1
            )
            if not step:
                break
            out += step
            out += self._greedy(
                model, eligible, no_worse(model, lambda vm: locality_move(model, vm, s))
            )
        return out

    def _growth(self, model: HostModel, eligible: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        out = self._greedy(model, eligible, lambda vm: growth_move(model, vm, s))
        for planned in out:  # its room to grow is the guest's: no other move counts on it
            if isinstance(planned.action, MemoryMove):
                model.reserve(planned.action.to_nodes, int(planned.gain))
        # A guest no home elsewhere can hold: a neighbour leaves its nodes instead.
        movable = {vm.name for vm in eligible}
        for vm in [vm for vm in model.vms.values() if not vm.moved]:
            room = growth_room_move(model, vm, movable, s)
            if room is not None:
                out += self._greedy(model, eligible, _the(room), limit=1)
        return out

    def _compaction(self, model: HostModel, eligible: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        return self._greedy(
            model, eligible, no_worse(model, lambda vm: compaction_move(model, vm, s))
        )

    def _balance(self, model: HostModel, eligible: list[VmState]) -> list[PlannedAction]:
        s = self.settings
        out: list[PlannedAction] = []
        for _ in range(MAX_MOVES_PER_HOST):
            over = [n for n in model.node_ids if model.overload(n, s.balance_tolerance) > 1e-9]
            if not over:
                break
            node = max(over, key=lambda n: (model.overload(n, s.balance_tolerance), -n))
            step = self._greedy(model, eligible, _shedding(model, node, s), limit=1)
            if not step:
                break
            out += step
        return out

    def _greedy(
        self,
        model: HostModel,
        eligible: list[VmState],
        option: _Option,
        limit: int = MAX_MOVES_PER_HOST,
    ) -> list[PlannedAction]:
        out: list[PlannedAction] = []
        while len(out) < limit:
            moves = [m for vm in eligible if not vm.moved and (m := option(vm)) is not None]
            moves.sort(key=lambda m: (-m.gain_per_byte, -m.gain, m.vm))
            chosen = next((m for m in moves if self.budget.allows(model.name, m.bytes)), None)
            if chosen is None:
                break
            vm = model.vms[chosen.vm]
            if chosen.kind == "memory":
                model.move(vm, chosen.to_nodes)
            else:
                model.rebind(vm, chosen.to_nodes)
            self.budget.charge(model.name, chosen.bytes)
            out.append(PlannedAction(_action(model.name, chosen), chosen.gain))
        return out

    def _locality_host_moves(
        self,
        models: dict[str, HostModel],
        up: list[HostView],
        cluster: ClusterView,
        ctx: RebalanceContext,
        holds: dict[str, _Hold] | None = None,
    ) -> list[PlannedAction]:
        """VMs still under the threshold after their host's pass — nothing on their host
        could make them local — live-migrate to a host where they are wholly local.
        With `holds`, a move larger than a host's whole bucket is not planned: its room
        on the target is taken by a placeholder, kept in `holds` by VM.

        Most remote first; each arrival updates the target's model, so two VMs are never
        sent into the same room. The move leaves the VM's locality at 1.0, is charged to
        both hosts' budgets, and starts its cool-down like any other.
        """
        s = self.settings
        if not s.locality_host_moves:
            return []
        stuck = [
            (model, vm)
            for model in models.values()
            if ctx.can_live_migrate(model.name)
            for vm in model.vms.values()
            if not vm.moved
            and vm.resident > 0
            and vm.node_set_locality < s.locality_threshold
            and 1.0 - vm.node_set_locality >= s.host_move_min_gain
            and not vm.view.pinned_host
            and self._may_move(vm, cluster, ctx)
        ]
        if not stuck:
            return []
        self._model_every_host(models, up)
        stuck.sort(key=lambda mv: (-_remote_share(mv[1]), -mv[1].resident, mv[1].name))
        out: list[PlannedAction] = []
        for model, vm in stuck:
            target_of = locality_host_target(vm, model.name, models, ctx, s)
            if target_of is None:
                continue
            to_host, nodes = target_of
            target, size = models[to_host], vm.resident
            if holds is not None and size > self.budget.capacity_bytes:
                holds[vm.name] = _Hold.take(target, vm, nodes, size)
                continue
            if not self.budget.take((model.name, to_host), size):
                continue
            gain = size - vm.local_bytes(vm.running)
            reason = (
                f"locality {vm.node_set_locality:.0%} < {s.locality_threshold:.0%} and no "
                f"node set on {model.name} has room for {vm.name}: live-migrate it "
                f"({format_size(size)}, {vm.vcpus} vCPUs) to {to_host} nodes "
                f"{','.join(map(str, nodes))}, where it is wholly local"
            )
            action = planned_host_move(model, target, vm, nodes, copied=size, reason=reason)
            out.append(PlannedAction(action, float(gain)))
        return out

    def _room_across_hosts(
        self,
        models: dict[str, HostModel],
        up: list[HostView],
        cluster: ClusterView,
        ctx: RebalanceContext,
        holds: dict[str, _Hold],
    ) -> list[PlannedAction]:
        """VMs still under the threshold that nothing above could fix: other VMs of their
        host live-migrate away so they fit on a compact home there (`room_across_hosts`).

        Most remote first. The evictions go in the plan's order while both ends' budgets
        allow; the stuck VM's own move follows when all of them went and its host's
        budget allows. A plan the budgets cannot carry out whole in this pass is started
        only on a host whose VMs are not still taking memory (`_settled`), and cutting
        it short ends this pass's room-making on that host, so no other VM's plan takes
        the room being made; the next pass plans the rest from what the host then looks
        like (the evictions already gone make the same room the cheapest to finish, and
        once it exists the locality rule moves the VM).
        """
        s = self.settings
        if not s.make_room_across_hosts:
            return []
        candidates = [
            (model, vm)
            for model in models.values()
            if ctx.can_live_migrate(model.name)
            for vm in model.vms.values()
            if not vm.moved
            and vm.node_set_locality < s.locality_threshold
            and self._may_move(vm, cluster, ctx)
        ]
        if not candidates:
            return []
        self._model_every_host(models, up)  # any host may take an evicted VM
        candidates.sort(key=lambda mv: (-_remote_share(mv[1]), -mv[1].resident, mv[1].name))
        out: list[PlannedAction] = []
        cut_short: set[str] = set()
        for model, vm in candidates:
            if model.name in cut_short or vm.moved or not self._stuck(vm, model, cluster, ctx):
                continue
            evictable = [
                o for o in model.vms.values()
                if o is not vm and not o.moved and not o.view.pinned_host
                and o.name not in holds and self._may_move(o, cluster, ctx)
            ]  # fmt: skip
            plan = room_across_hosts(models, model, vm, evictable, ctx, s)
            if plan is None or not (self._completes(plan) or self._settled(model, plan)):
                continue
            if locality_after(model, vm, plan.move) < vm.locality - 1e-9:
                continue  # made local on more nodes, each vCPU would find less of it
            if self._host_move_better(vm, model, models, ctx, plan, vm.name in holds):
                continue
            if vm.name in holds:  # the room plan replaces its host move
                holds.pop(vm.name).release()
            actions, complete = self._carry_out(plan, model, models)
            out += actions
            if not complete:
                cut_short.add(model.name)
        return out

    def _stuck(
        self, vm: VmState, model: HostModel, cluster: ClusterView, ctx: RebalanceContext
    ) -> bool:
        """No move on its host can fix `vm` (with or without another VM making room
        there): when one exists and was not planned, the budget held it back, and it is
        the cheaper repair to wait for. (A host move that takes it whole is weighed
        against the room plan: `_host_move_better`.)"""
        s = self.settings
        if locality_move(model, vm, s) is not None:
            return False
        movable = {o.name for o in model.vms.values() if self._may_move(o, cluster, ctx)}
        return make_room_move(model, vm, movable, s) is None

    def _host_move_better(
        self,
        vm: VmState,
        model: HostModel,
        models: dict[str, HostModel],
        ctx: RebalanceContext,
        plan: RoomPlan,
        held: bool,
    ) -> bool:
        """A host move would take `vm` whole (`held`: one is planned for the end of the
        pass) and buys at least as much locality per byte copied as `plan`: then the host
        move is the repair (this pass, or when the budget allows), not evictions."""
        s = self.settings
        whole = held or (
            s.locality_host_moves
            and not vm.view.pinned_host
            and 1.0 - vm.node_set_locality >= s.host_move_min_gain
            and locality_host_target(vm, model.name, models, ctx, s) is not None
        )
        remote = vm.resident - vm.local_bytes(vm.running)
        return whole and remote * plan.cost >= plan.gain * vm.resident

    def _completes(self, plan: RoomPlan) -> bool:
        """The budgets allow all of `plan` (evictions and the VM's own move) this pass."""
        budget = copy.deepcopy(self.budget)
        steps: list[tuple[tuple[str, ...], int]] = [
            ((plan.host, e.to_host), e.bytes) for e in plan.evictions
        ]
        steps.append(((plan.host,), plan.move.bytes))
        return all(budget.take(hosts, nbytes) for hosts, nbytes in steps)

    def _settled(self, model: HostModel, plan: RoomPlan) -> bool:
        """No VM staying on the host may take the room before the VM it is made for: none
        grew since the last pass (`_observe_growth`), and the memory they have still to
        touch (`untouched_bytes`: the guest's size, else its configured size, less what
        is resident) fits in the host's free memory as it is. Only then is room made over
        several passes: in rebalance-churn, 8 GiB freed on a full host for a VM of a burst
        went to its siblings' first touches before the next pass.
        """
        leaving = {e.vm for e in plan.evictions}
        staying = [vm for name, vm in model.vms.items() if name not in leaving]
        if any(vm.name in self._growing for vm in staying):
            return False
        untouched = sum(untouched_bytes(vm.view, unknown="configured") for vm in staying)
        return untouched <= model.total_free()

    def _carry_out(
        self, plan: RoomPlan, model: HostModel, models: dict[str, HostModel]
    ) -> tuple[list[PlannedAction], bool]:
        """Apply `plan` to the models as far as the budgets allow: its actions, and
        whether all of it (the stuck VM's own move included) was planned."""
        out: list[PlannedAction] = []
        vm = model.vms[plan.vm]
        home = ",".join(map(str, plan.move.to_nodes))
        where = f"node {home}" if len(plan.move.to_nodes) == 1 else f"nodes {home}"
        gone: list[str] = []
        for k, e in enumerate(plan.evictions, 1):
            target = models[e.to_host]
            if sum(target.room(n) for n in e.to_nodes) < e.bytes:  # the search saw the same
                return out, False
            if not self.budget.take((model.name, e.to_host), e.bytes):
                return out, False
            gone.append(e.vm)
            reason = (
                f"make room on {model.name} {where} for {plan.vm} (locality "
                f"{plan.locality:.0%}): live-migrate {e.vm} ({format_size(e.bytes)}) to "
                f"{e.to_host} nodes {','.join(map(str, e.to_nodes))}, where it is wholly "
                f"local ({k} of {len(plan.evictions)}; {format_size(plan.cost)} copied in "
                f"all to make {format_size(plan.gain)} local)"
            )
            mover = model.vms[e.vm]
            action = planned_host_move(
                model, target, mover, e.to_nodes, copied=e.bytes, reason=reason
            )
            out.append(PlannedAction(action, float(e.gain)))
        move = locality_move(model, vm, self.settings)
        if move is None or not is_full_repair(model, vm, move):
            return out, False  # not expected: the search carried out the same steps
        if not self.budget.allows(model.name, move.bytes):
            return out, False
        if move.kind == "memory":
            model.move(vm, move.to_nodes)
        else:
            model.rebind(vm, move.to_nodes)
        self.budget.charge(model.name, move.bytes)
        move = replace(
            move, reason=f"{move.reason} (room made by live-migrating {', '.join(gone)})"
        )
        out.append(PlannedAction(_action(model.name, move), move.gain))
        return out, True

    def _cpu_host_moves(
        self,
        models: dict[str, HostModel],
        up: list[HostView],
        cluster: ClusterView,
        ctx: RebalanceContext,
    ) -> list[PlannedAction]:
        """Floating VMs off hosts running more vCPUs than CPUs (`cpu_across_hosts`)."""
        s = self.settings
        if not s.cpu_host_moves or not any(
            cpu_overloaded(m, s) and any(vm.view.floating for vm in m.vms.values())
            for m in models.values()
        ):
            return []
        self._model_every_host(models, up)

        def movable(vm: VmState) -> bool:
            return self._may_move(vm, cluster, ctx)

        def affordable(source: str, target: str, size: int) -> bool:
            return self.budget.take((source, target), size)

        return [
            PlannedAction(move, float(move.bytes_to_move))
            for move in cpu_host_moves(models, movable, ctx, s, affordable)
        ]

    def _host_moves(
        self, models: dict[str, HostModel], cluster: ClusterView, ctx: RebalanceContext
    ) -> list[PlannedAction]:
        s = self.settings
        out: list[PlannedAction] = []
        for name in list(models):
            model = models[name]
            pressure = pressure_of(model, ctx, s)
            if pressure is None or pressure.unrelievable == 0:
                self._pressure_since.pop(name, None)
                continue
            since = self._pressure_since.setdefault(name, cluster.now)
            if cluster.now - since < s.pressure_grace_s or not ctx.can_live_migrate(name):
                continue
            eligible = [
                vm for vm in model.vms.values()
                if not vm.moved and not vm.view.pinned_host and self._may_move(vm, cluster, ctx)
            ]  # fmt: skip
            choice = choose_host_move(pressure, models, eligible, ctx, s, since, cluster.now)
            if choice is None:
                continue
            vm, target = choice.vm, models[choice.to_host]
            size = vm.resident
            if not self.budget.take((name, target.name), size):
                continue
            self._pressure_since.pop(name, None)
            action = planned_host_move(
                model, target, vm, choice.to_nodes, copied=size, reason=choice.reason
            )
            out.append(PlannedAction(action, float(size)))
        return out


def _the(move: Move) -> _Option:
    """An option that offers `move` to its VM alone (`_greedy` plans it once, if the budget
    allows)."""
    return lambda vm: move if vm.name == move.vm else None


def _held(vm: VmState, ctx: RebalanceContext) -> bool:
    """A move of it is in flight, or the operator fixed its nodes (`vm create --nodes`)."""
    return vm.name in ctx.busy or vm.view.pinned_nodes


def _remote_share(vm: VmState) -> float:
    return 1.0 - vm.node_set_locality


def _unrelievable(host: HostView, ctx: RebalanceContext, s: RebalanceSettings) -> bool:
    """`pressure.pressure_of` on the view, without building a model."""
    topo = host.topology
    line = s.pressure_free_fraction * topo.memory_total_bytes
    free = sum(host.available_bytes(n.id) for n in topo.nodes)
    if free >= line:
        return False
    reclaimable = sum(
        max(0, sum(vm.memory_by_node.values()) - ctx.reservations.get(vm.name, 0))
        for vm in host.vms
    )
    return free + reclaimable < line


def _shedding(model: HostModel, node: int, s: RebalanceSettings) -> _Option:
    """The balance move of a VM off `node`."""
    return lambda vm: balance_move(model, vm, node, s)


def _action(host: str, move: Move) -> Action:
    if move.kind == "affinity":
        return AffinityChange(vm=move.vm, host=host, nodes=move.to_nodes, reason=move.reason)
    return MemoryMove(
        vm=move.vm, host=host, to_nodes=move.to_nodes, bytes_to_move=move.bytes,
        reason=move.reason,
    )  # fmt: skip
