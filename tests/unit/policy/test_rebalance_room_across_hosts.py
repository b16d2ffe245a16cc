"""Worked examples of making room across hosts: other VMs of a full host live-migrate
away so a VM nothing else can fix becomes local on its own host (`room_across_hosts`).

The world is rebalance-churn at 3000 s in miniature: `hv-0` is full, `big` (10 GiB,
8 vCPUs) has 8 GiB on node 0 and runs on node 1; node 0's other VMs (`web-1`, `web-2`,
4 GiB each) are local, and so is everything else. `hv-1` has 8 GiB free on every node:
less than `big`, enough for a 4 GiB VM.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.rebalance import (
    NumaplaneRebalancer,
    RebalanceContext,
    RebalanceSettings,
)
from numaplane.controller.policy.types import Action, ClusterView, HostMove, MemoryMove
from tests.support.placement_builders import snc4
from tests.support.rebalance_world import World, bare, world_vm

ONE_PASS = RebalanceSettings(bandwidth_bytes_per_s=GiB)  # 10 GiB a pass: all of it at once


def churn_world() -> World:
    topo = bare(snc4(memory_gib=16))
    w = World({"hv-0": topo, "hv-1": topo})

    def vm(name: str, host: str, gib: float, node: int, vcpus: int) -> None:
        w.vms[name] = world_vm(
            name, host, vcpus=vcpus, memory={node: int(gib * GiB)}, cpu_nodes={node}
        )

    w.vms["big"] = world_vm("big", "hv-0", vcpus=8, memory={0: 8 * GiB, 1: 2 * GiB}, cpu_nodes={1})
    vm("web-1", "hv-0", 4, 0, 2)
    vm("web-2", "hv-0", 4, 0, 2)
    vm("db", "hv-0", 10, 1, 8)
    vm("cache", "hv-0", 4, 1, 2)
    for node in (2, 3):
        vm(f"app-{node}a", "hv-0", 8, node, 4)
        vm(f"app-{node}b", "hv-0", 8, node, 4)
    for node in range(4):
        vm(f"peer-{node}", "hv-1", 8, node, 4)
    return w


def _apply(w: World, actions: tuple[Action, ...]) -> None:
    for action in actions:
        w.apply(action)  # raises DoesNotFit if the planner promised room it had not


def test_room_made_by_live_migrating_two_local_vms_in_one_pass() -> None:
    w = churn_world()
    actions = NumaplaneRebalancer(ONE_PASS).plan(w.view())
    evictions = [a for a in actions if isinstance(a, HostMove)]
    assert [(a.vm, a.host, a.to_host) for a in evictions] == [
        ("web-1", "hv-0", "hv-1"),
        ("web-2", "hv-0", "hv-1"),
    ]
    assert evictions[0].to_nodes != evictions[1].to_nodes  # never the same room twice
    for a in evictions:
        assert a.bytes_to_move == 4 * GiB
        assert sum(b for _, b in a.arrival) == a.bytes_to_move
        assert {n for n, _ in a.arrival} <= set(a.to_nodes)
    assert evictions[0].reason == (
        f"make room on hv-0 node 0 for big (locality 20%): live-migrate web-1 (4G) to hv-1 "
        f"nodes {evictions[0].to_nodes[0]}, where it is wholly local (1 of 2; 10G copied in "
        f"all to make 8G local)"
    )
    [own] = [a for a in actions if not isinstance(a, HostMove)]
    assert isinstance(own, MemoryMove)
    assert (own.vm, own.to_nodes, own.bytes_to_move) == ("big", (0,), 2 * GiB)
    assert own.reason.endswith("(room made by live-migrating web-1, web-2)")
    assert actions.index(own) > max(actions.index(a) for a in evictions)
    _apply(w, actions)
    assert w.vms["big"].locality == 1.0
    for name in ("web-1", "web-2"):
        assert (w.vms[name].host, w.vms[name].locality) == ("hv-1", 1.0)
    w.now += 10 * 300.0  # long after every cool-down: nothing left to fix
    assert NumaplaneRebalancer(ONE_PASS).plan(w.view()) == ()


def test_the_default_budget_makes_the_room_over_passes_and_then_moves_the_vm() -> None:
    """5 GiB a pass: one eviction a pass, then the locality rule finds big's move into the
    room (nothing remembered between passes: each pass plans from what it sees)."""
    w = churn_world()
    r = NumaplaneRebalancer(RebalanceSettings())
    seen: list[list[str]] = []
    for _ in range(3):
        actions = r.plan(w.view())
        seen.append([a.vm for a in actions])
        _apply(w, actions)
        w.now += r.settings.period_s
    assert seen == [["web-1"], ["web-2"], ["big"]]
    assert w.vms["big"].locality == 1.0
    assert {w.vms[n].host for n in ("web-1", "web-2")} == {"hv-1"}


def test_no_room_made_when_it_buys_too_little_for_its_bytes() -> None:
    """10 GiB copied to make 8 GiB local: worth it at the default 0.5, not at 0.85."""
    w = churn_world()
    strict = RebalanceSettings(bandwidth_bytes_per_s=GiB, host_move_min_gain=0.85)
    assert NumaplaneRebalancer(strict).plan(w.view()) == ()


@pytest.mark.parametrize("fixed", ["pinned_host", "pinned_nodes", "busy", "cooling"])
def test_no_eviction_of_a_vm_the_rule_may_not_move(fixed: str) -> None:
    """web-1 cannot leave (operator-fixed, a move in flight, or cooling down), and with it
    on node 0 big has no CPU room there: nothing is planned, web-2 is not sent away."""
    w = churn_world()
    busy: frozenset[str] = frozenset()
    if fixed == "busy":
        busy = frozenset({"web-1"})
    elif fixed == "cooling":
        w.now = 1000.0
        w.last_moved["web-1"] = 900.0
    else:
        setattr(w.vms["web-1"], fixed, True)
    ctx = RebalanceContext(busy=busy)
    assert NumaplaneRebalancer(ONE_PASS).plan(w.view(), ctx) == ()


def test_no_eviction_to_a_host_that_cannot_live_migrate_or_when_turned_off() -> None:
    w = churn_world()
    only_source = RebalanceContext(live_migration_hosts=frozenset({"hv-0"}))
    assert NumaplaneRebalancer(ONE_PASS).plan(w.view(), only_source) == ()
    only_target = RebalanceContext(live_migration_hosts=frozenset({"hv-1"}))
    assert NumaplaneRebalancer(ONE_PASS).plan(w.view(), only_target) == ()
    off = replace(ONE_PASS, make_room_across_hosts=False)
    assert NumaplaneRebalancer(off).plan(w.view()) == ()


def _resized(view: ClusterView, vm: str, *, resident: int = 0, configured: int = 0) -> ClusterView:
    """`view` with `vm` `resident` bytes larger on its first node and `configured` bytes
    larger in its configured size."""
    hosts = []
    for h in view.hosts:
        vms = []
        for v in h.vms:
            if v.name == vm:
                node = min(v.memory_by_node)
                memory = {**v.memory_by_node, node: v.memory_by_node[node] + resident}
                size = v.memory_bytes + resident + configured
                v = replace(v, memory_by_node=memory, memory_bytes=size)
            vms.append(v)
        hosts.append(replace(h, vms=tuple(vms)))
    return replace(view, hosts=tuple(hosts))


def test_room_is_made_over_passes_only_where_no_vm_would_take_it_first() -> None:
    """Room freed for big over several passes would go to the first touches of a VM still
    taking memory (rebalance-churn's burst did exactly that); all in one pass, big takes
    it at once."""
    # db has 6 GiB still to touch, more than the full host has free.
    view = _resized(churn_world().view(), "db", configured=6 * GiB)
    assert NumaplaneRebalancer(RebalanceSettings()).plan(view) == ()
    assert [a.vm for a in NumaplaneRebalancer(ONE_PASS).plan(view)] == ["web-1", "web-2", "big"]
    # db grew by 256 MiB since the last pass (whatever its configured size says).
    w = churn_world()
    r = NumaplaneRebalancer(RebalanceSettings())
    no_moves = RebalanceContext(live_migration_hosts=frozenset())
    assert r.plan(_resized(w.view(), "db", resident=-256 * MiB), no_moves) == ()
    w.now += 10.0
    assert r.plan(w.view()) == ()
    w.now += 10.0  # it stopped growing: the room is made
    assert [a.vm for a in r.plan(w.view())] == ["web-1"]


def burst_world() -> World:
    """rebalance-churn at 1810 s in miniature. On `hv-0` (full), `late` (8 GiB, 4 vCPUs on
    node 0) has 6 GiB on node 1; `spilled` (8 GiB, 4 vCPUs on node 0) has nothing on node
    0. Making room for `late` on node 1 (send `small`, 3 GiB and 2 vCPUs, away; then copy
    late's 2 GiB) copies 5 GiB for 6 made local; live-migrating late or spilled copies 8
    GiB, more than a 5 GiB pass. `hv-1` has 10 GiB free on node 0, 5 GiB on the others."""
    topo = bare(snc4(memory_gib=16))
    w = World({"hv-0": topo, "hv-1": topo})

    def vm(name: str, host: str, memory: dict[int, float], node: int, vcpus: int) -> None:
        in_bytes = {n: int(gib * GiB) for n, gib in memory.items()}
        w.vms[name] = world_vm(name, host, vcpus=vcpus, memory=in_bytes, cpu_nodes={node})

    vm("late", "hv-0", {0: 2, 1: 6}, 0, 4)
    vm("spilled", "hv-0", {1: 1, 2: 4, 3: 3}, 0, 4)
    vm("n0", "hv-0", {0: 14}, 0, 4)
    vm("n1", "hv-0", {1: 6}, 1, 4)
    vm("small", "hv-0", {1: 3}, 1, 2)
    for node in (2, 3):
        vm(f"n{node}a", "hv-0", {node: 6}, node, 4)
        vm(f"n{node}b", "hv-0", {node: 6 if node == 2 else 5}, node, 4)
    vm("peer-0", "hv-1", {0: 6}, 0, 4)
    for node in (1, 2, 3):
        vm(f"peer-{node}", "hv-1", {node: 11}, node, 6)
    return w


def test_an_oversized_host_move_waits_for_the_cheaper_repair_and_keeps_its_room() -> None:
    """The first pass makes room for `late` (5 GiB: the whole budget); `spilled`'s 8 GiB
    host move, which would leave both hosts' buckets in debt, goes in the next pass. Its
    room on hv-1 node 0 is held meanwhile: `small` is not sent there."""
    w = burst_world()
    r = NumaplaneRebalancer(RebalanceSettings())
    first = r.plan(w.view())
    assert [(type(a).__name__, a.vm) for a in first] == [
        ("HostMove", "small"),
        ("MemoryMove", "late"),
    ]
    [evict] = [a for a in first if isinstance(a, HostMove)]
    assert evict.to_host == "hv-1" and evict.to_nodes != (0,)
    assert sum(a.bytes_to_move for a in first if isinstance(a, HostMove | MemoryMove)) == 5 * GiB
    _apply(w, first)
    w.now += r.settings.period_s
    [second] = r.plan(w.view())
    assert isinstance(second, HostMove)
    assert (second.vm, second.to_host, second.to_nodes) == ("spilled", "hv-1", (0,))
    _apply(w, (second,))
    assert all(v.locality == 1.0 for v in w.vms.values())


def test_room_is_made_only_when_it_buys_more_per_byte_than_a_host_move() -> None:
    """`late` alone (spilled's nodes fixed by the operator), its 8 GiB host move more
    than a pass's budget: making room copies 5 GiB for 6 made local, the host move 8 for
    6, so room is made. With 7 of late's 8 GiB remote and `small` at 7 GiB, making room
    copies 8 GiB for 7, no better than the host move (8 for 7): late moves whole, one
    live migration instead of two (hv-1 node 1 has room for small)."""
    w = burst_world()
    w.vms["spilled"].pinned_nodes = True
    default = RebalanceSettings()
    assert [a.vm for a in NumaplaneRebalancer(default).plan(w.view())] == ["small", "late"]
    w.vms["late"].memory = {0: 1 * GiB, 1: 7 * GiB}
    w.vms["n0"].memory = {0: 15 * GiB}
    w.vms["small"].memory = {1: 7 * GiB}
    w.vms["n1"].memory = {1: 1 * GiB}
    w.vms["peer-1"].memory = {1: 8 * GiB}
    [move] = NumaplaneRebalancer(default).plan(w.view())
    assert isinstance(move, HostMove)
    assert (move.vm, move.bytes_to_move) == ("late", 8 * GiB)
