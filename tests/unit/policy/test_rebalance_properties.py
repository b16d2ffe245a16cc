"""Invariants of the rebalancer over random clusters (hypothesis), checked by carrying its
plans out in `rebalance_world` — an independent model of what the agents do:

- no pass lowers a moved VM's locality (per vCPU; one moved to another host may land at
  the 1/k its size allows; a CPU-balance move trades locality for CPU), nor the
  cluster's memory-weighted locality (in passes without host moves), nor — but for a
  floating VM re-bound ahead of its memory — the share of a VM's memory on the nodes its
  vCPUs run on;
- no pass sends memory where there is no room once its moves are done (they run side by
  side, so a floating VM may take what another leaves in the same pass), nor vCPUs
  onto a node beyond its limit;
- each pass keeps every host within its budget (or plans one oversized move alone), and
  over a run a host never moves more than bandwidth x time plus one period or one move;
- no VM moves within its cool-down — except its memory following the vCPUs it is bound
  to, which changes no binding — nor while it has a move in flight;
- on a steady cluster, plan -> apply -> plan again converges and then plans nothing,
  also once every cool-down has expired (no oscillation).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numaplane.common.topology import Topology
from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.rebalance import (
    NumaplaneRebalancer,
    RebalanceContext,
    RebalanceSettings,
)
from numaplane.controller.policy.types import Action, HostMove, MemoryMove
from tests.support.placement_builders import snc4, socket_distances, topology, two_nodes
from tests.support.rebalance_world import World, bare, world_vm

SHAPES: Sequence[Topology] = (
    two_nodes(cpus=4, memory_gib=8),
    snc4(memory_gib=8),
    topology([2, 2, 2], [6, 6, 6], [[10, 16, 22], [16, 10, 16], [22, 16, 10]]),
    topology([4] * 4, [4] * 4, socket_distances(2, 2, 12, 32)),
)
SETTINGS = RebalanceSettings(bandwidth_bytes_per_s=512 * MiB, period_s=10.0)
SPREAD = RebalanceSettings(bandwidth_bytes_per_s=512 * MiB, period_s=10.0, allow_spread=True)
BOTH = pytest.mark.parametrize("s", [SETTINGS, SPREAD], ids=["compact", "spread"])
UNIT = 256 * MiB


@st.composite
def worlds(draw: st.DrawFn) -> World:
    count = draw(st.integers(1, 3))
    topologies = {f"h{i}": bare(draw(st.sampled_from(SHAPES))) for i in range(count)}
    world = World(topologies)
    for host, topo in topologies.items():
        ids = list(topo.node_ids)
        for k in range(draw(st.integers(0, 6))):
            vcpus = draw(st.integers(1, 4))
            memory: dict[int, int] = {}
            for node in draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True)):
                room = world.free(host, node) - memory.get(node, 0)
                take = min(draw(st.integers(0, 16)) * UNIT, max(0, room))
                if take:
                    memory[node] = memory.get(node, 0) + take
            if not memory:
                continue
            bound = draw(st.booleans())
            cpu_nodes = (
                frozenset(draw(st.lists(st.sampled_from(ids), min_size=1, max_size=2, unique=True)))
                if bound
                else frozenset(ids)
            )
            running = frozenset(
                draw(
                    st.lists(
                        st.sampled_from(sorted(cpu_nodes)),
                        min_size=1,
                        max_size=min(vcpus, len(cpu_nodes)),
                        unique=True,
                    )
                )
            )
            name = f"{host}-vm{k}"
            world.vms[name] = world_vm(
                name, host, vcpus=vcpus, memory=memory, cpu_nodes=cpu_nodes, running=running
            )
    world.now = draw(st.floats(0, 1000))
    for name in world.vms:
        if draw(st.booleans()):
            world.last_moved[name] = world.now - draw(st.floats(0, 600))
    return world


def _moves_on(actions: Sequence[Action], host: str) -> list[int]:
    out = []
    for a in actions:
        if isinstance(a, MemoryMove | HostMove) and host in (a.host, getattr(a, "to_host", "")):
            out.append(a.bytes_to_move)
    return out


def _check_pass(world: World, actions: Sequence[Action], busy: frozenset[str]) -> None:
    """Carry `actions` out and check the invariants. The moves of one pass run side by
    side (one may take room another frees), so the locality and room invariants hold at
    the end of the pass: every VM it moved is at least as local as before, or — moved to
    another host, made wholly local on the k nodes its size needs — at 1/k."""
    for host in world.topologies:
        moves = [b for b in _moves_on(actions, host) if b > 0]
        assert sum(moves) <= SETTINGS.budget_bytes or len(moves) == 1 or _one_plan(
            actions, host
        ), (host, moves)
    loads = {
        (h, n.id): world.load(h, n.id) for h, topo in world.topologies.items() for n in topo.nodes
    }
    caps = {
        (h, n.id): len(n.cpus) * _overcommit(world, h)
        for h, topo in world.topologies.items()
        for n in topo.nodes
    }
    before = {name: (vm.locality, vm.node_set_locality) for name, vm in world.vms.items()}
    floated = {name for name, vm in world.vms.items() if vm.floats(world.topologies[vm.host])}
    total_before = world.total_locality()
    for action in actions:
        assert action.vm not in busy
        moved = world.last_moved.get(action.vm)
        vm = world.vms[action.vm]
        follows = (
            isinstance(action, MemoryMove)
            and frozenset(action.to_nodes) == vm.running
            and vm.cpu_nodes == vm.running
        )
        assert moved is None or world.now - moved >= SETTINGS.cooldown_s or follows, action
        assert action.reason
        world.apply(action, check_room=False)
    world.check_room()  # raises DoesNotFit if the planner promised room it had not
    shed = {a.vm for a in actions if _sheds_cpu_load(a)}
    for action in actions:
        vm = world.vms[action.vm]
        locality, share = before[action.vm]
        if action.vm in shed:
            continue
        floor = locality
        if isinstance(action, HostMove):
            floor = min(locality, 1.0 / max(1, len(vm.running)))
        assert vm.locality >= floor - 1e-9, action
        assert action.vm in floated or vm.node_set_locality >= share - 1e-9, action
    if not shed and not any(isinstance(a, HostMove) for a in actions):
        # (A VM evicted to make room elsewhere may land at the 1/k its size allows, a
        # little below an uneven split, while the move it made room for waits a pass.)
        assert world.total_locality() >= total_before - 1e-9, actions
    for (h, node), old in loads.items():
        assert world.load(h, node) <= max(old, caps[(h, node)]) + 1e-9, (actions, h, node)


def _sheds_cpu_load(action: Action) -> bool:
    """A CPU-balance move: it trades a VM's locality for a node under its vCPU limit (a
    VM with more vCPUs than one node's CPUs spreads over two, each vCPU then reaching
    half of its memory remotely)."""
    return "carries" in action.reason


def _plan_bytes(actions: Sequence[Action], host: str) -> int:
    """What a plan of floating homes on `host` copies in all (charged as one move)."""
    return sum(
        a.bytes_to_move
        for a in actions
        if isinstance(a, MemoryMove) and a.host == host and "floats" in a.reason
    )


def _one_plan(actions: Sequence[Action], host: str) -> bool:
    """The copies on `host` are one plan of floating homes (`floating`): charged to the
    budget together, as one move."""
    moves = [a for a in actions if isinstance(a, MemoryMove) and a.host == host]
    return bool(moves) and all("floats" in a.reason for a in moves)


def _overcommit(world: World, host: str) -> float:
    """The vCPUs per CPU a node may reach: the setting's, or the host's own ratio when its
    vCPUs outnumber its CPUs anyway (floating VMs then take an even share: `floating`)."""
    topo = world.topologies[host]
    vcpus = sum(vm.vcpus for vm in world.vms.values() if vm.host == host)
    return max(SETTINGS.cpu_overcommit, vcpus / topo.cpu_count)


def _reservations(world: World, data: st.DataObject) -> dict[str, int]:
    """Reservations of a random share of each VM's memory (what balloons cannot take)."""
    return {
        name: int(vm.resident * data.draw(st.sampled_from((0.0, 0.5, 1.0))))
        for name, vm in world.vms.items()
    }


@BOTH
@settings(max_examples=100, deadline=None)
@given(world=worlds(), data=st.data())
def test_one_pass_keeps_every_invariant(
    s: RebalanceSettings, world: World, data: st.DataObject
) -> None:
    busy = frozenset(n for n in world.vms if data.draw(st.integers(0, 9)) == 0)
    ctx = RebalanceContext(busy=busy, reservations=_reservations(world, data))
    r = NumaplaneRebalancer(s)
    r.plan(world.view(), ctx)  # pressure, if any, starts being counted here
    world.now += SETTINGS.pressure_grace_s
    actions = r.plan(world.view(), ctx)
    # One action per VM per pass: a VM is never moved twice from one observation.
    assert len({a.vm for a in actions}) == len(actions), actions
    _check_pass(world, actions, busy)


@BOTH
@settings(max_examples=60, deadline=None)
@given(world=worlds(), data=st.data())
def test_repeated_passes_converge_and_then_stay_quiet(
    s: RebalanceSettings, world: World, data: st.DataObject
) -> None:
    ctx = RebalanceContext(reservations=_reservations(world, data))
    r = NumaplaneRebalancer(s)
    planned: dict[str, int] = {}
    largest: dict[str, int] = {}
    start = world.now
    quiet = 0
    for _ in range(200):
        actions = r.plan(world.view(), ctx)
        for host in world.topologies:
            planned[host] = planned.get(host, 0) + sum(_moves_on(actions, host))
            # A token bucket that lets one move (or one plan of floating homes) larger than
            # itself go when full: over a run, bandwidth x time plus the larger of the
            # bucket and the largest such move.
            largest[host] = max(
                [largest.get(host, 0), *_moves_on(actions, host), _plan_bytes(actions, host)]
            )
            allowance = SETTINGS.bandwidth_bytes_per_s * (world.now - start)
            assert planned[host] <= allowance + max(SETTINGS.budget_bytes, largest[host]) + 1, (
                host
            )
        _check_pass(world, actions, frozenset())
        quiet = 0 if actions else quiet + 1
        cooled = all(world.now - t >= SETTINGS.cooldown_s for t in world.last_moved.values())
        if quiet >= 3 and cooled:
            break
        world.now += SETTINGS.period_s
    assert quiet >= 3 and cooled, "the rebalancer never settled"
    # Steady state, long after every cool-down: still nothing to do.
    world.now += 10 * SETTINGS.cooldown_s
    assert r.plan(world.view(), ctx) == ()


def test_a_pass_over_an_empty_cluster_plans_nothing() -> None:
    world = World({"h": bare(two_nodes())})
    assert NumaplaneRebalancer().plan(world.view()) == ()


def test_down_hosts_are_not_touched() -> None:
    world = World({"h": bare(two_nodes(cpus=4, memory_gib=8))}, down={"h"})
    world.vms["vm"] = world_vm("vm", "h", vcpus=1, memory={0: GiB}, cpu_nodes={1})
    assert NumaplaneRebalancer().plan(world.view()) == ()


@st.composite
def pressured_worlds(draw: st.DrawFn) -> World:
    """A world whose first host is more than 95 % full of reserved memory."""
    world = draw(worlds())
    host = next(iter(world.topologies))
    topo = world.topologies[host]
    for node in topo.node_ids:
        room = world.free(host, node) - int(0.03 * topo.node(node).memory_total_bytes)
        k = 0
        while room >= UNIT:
            take = min(room, draw(st.integers(1, 12)) * UNIT)
            name = f"{host}-fill{node}-{k}"
            world.vms[name] = world_vm(name, host, vcpus=1, memory={node: take}, cpu_nodes={node})
            room -= take
            k += 1
    return world


@settings(max_examples=60, deadline=None)
@given(pressured_worlds())
def test_unrelievable_pressure_moves_vms_off_the_host_within_the_invariants(
    world: World,
) -> None:
    ctx = RebalanceContext(reservations={n: vm.resident for n, vm in world.vms.items()})
    # The pressure rule alone: a VM its host has no room for may also live-migrate, at
    # once, for locality, or have others do so to make room (`locality_host_moves`,
    # `make_room_across_hosts`, checked by the tests above), or leave a host with more
    # vCPUs than CPUs (`cpu_host_moves`, likewise).
    alone = replace(
        SETTINGS, locality_host_moves=False, make_room_across_hosts=False, cpu_host_moves=False
    )
    r = NumaplaneRebalancer(alone)
    first = r.plan(world.view(), ctx)
    assert not any(isinstance(a, HostMove) for a in first)  # the grace has not passed
    _check_pass(world, first, frozenset())
    world.now += SETTINGS.pressure_grace_s
    actions = r.plan(world.view(), ctx)
    host_moves = [a for a in actions if isinstance(a, HostMove)]
    assert len({a.host for a in host_moves}) == len(host_moves)  # one per host per pass
    _check_pass(world, actions, frozenset())


@st.composite
def crowded_worlds(draw: st.DrawFn) -> World:
    """rebalance-churn at 3000 s, drawn: host h0 full of small VMs local to their node,
    but for `stuck`, whose memory is mostly on a node other than its vCPUs'; h1 with room
    on some nodes. Nothing on h0 can make `stuck` local, often no host takes it whole:
    what is left is making room across hosts (`make_room_across_hosts`)."""
    topo = bare(draw(st.sampled_from(SHAPES)))
    world = World({"h0": topo, "h1": topo})
    ids = [n.id for n in topo.nodes if n.cpus]
    home, runs = draw(st.permutations(ids))[:2]
    size = topo.node(home).memory_total_bytes // UNIT
    remote = draw(st.integers(size // 3, size * 3 // 4)) * UNIT
    local = draw(st.integers(0, 4)) * UNIT
    vcpus = draw(st.integers(1, len(topo.node(runs).cpus)))
    world.vms["stuck"] = world_vm(
        "stuck", "h0", vcpus=vcpus, memory={home: remote, runs: local}, cpu_nodes={runs}
    )
    for host in ("h0", "h1"):
        for node in ids:
            room = world.free(host, node)
            if host == "h1":
                room = room * draw(st.integers(0, 4)) // 4
            count = draw(st.integers(1, 3))
            for k in range(count):
                take = room // (count - k) // UNIT * UNIT
                if take < UNIT:
                    break
                name = f"{host}-n{node}-{k}"
                world.vms[name] = world_vm(
                    name, host, vcpus=draw(st.integers(1, 2)), memory={node: take},
                    cpu_nodes={node},
                )  # fmt: skip
                room -= take
    world.now = 1000.0
    for name in world.vms:
        if draw(st.integers(0, 4)) == 0:
            world.last_moved[name] = world.now - draw(st.floats(0, 600))
    return world


@settings(max_examples=100, deadline=None)
@given(world=crowded_worlds(), data=st.data())
def test_making_room_across_hosts_keeps_every_invariant(world: World, data: st.DataObject) -> None:
    """Passes until quiet on worlds where making room across hosts is often the only
    repair (the first with some VMs busy): every invariant above holds, and it settles."""
    busy = frozenset(n for n in world.vms if data.draw(st.integers(0, 9)) == 0)
    r = NumaplaneRebalancer(SETTINGS)
    planned = dict.fromkeys(world.topologies, 0)
    start = world.now
    quiet = 0
    for k in range(200):
        ctx = RebalanceContext(busy=busy if k == 0 else frozenset())
        actions = r.plan(world.view(), ctx)
        for host in world.topologies:
            planned[host] += sum(_moves_on(actions, host))
            largest = max([0, *_moves_on(actions, host)])
            allowance = SETTINGS.bandwidth_bytes_per_s * (world.now - start)
            assert planned[host] <= allowance + max(SETTINGS.budget_bytes, largest) + 1, host
        _check_pass(world, actions, ctx.busy)
        quiet = 0 if actions else quiet + 1
        cooled = all(world.now - t >= SETTINGS.cooldown_s for t in world.last_moved.values())
        if quiet >= 3 and cooled:
            break
        world.now += SETTINGS.period_s
    assert quiet >= 3 and cooled, "the rebalancer never settled"
    world.now += 10 * SETTINGS.cooldown_s
    assert r.plan(world.view()) == ()
