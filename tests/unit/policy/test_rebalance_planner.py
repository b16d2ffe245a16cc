"""Worked examples of the rebalancer: which move it picks for a VM, and why."""

from __future__ import annotations

from numaplane.common.units import GiB
from numaplane.controller.policy.rebalance import (
    NumaplaneRebalancer,
    RebalanceContext,
    RebalanceSettings,
)
from numaplane.controller.policy.types import AffinityChange, HostMove, MemoryMove
from tests.support.placement_builders import snc4, topology, two_nodes
from tests.support.rebalance_world import World, bare, world_vm


def two_node_world(**vms: dict[str, object]) -> World:
    return World({"h": bare(two_nodes(cpus=4, memory_gib=8))})


def test_memory_follows_bound_vcpus() -> None:
    """The real-kernel case: memory on node 0, the vCPU bound to node 1 -> move the memory."""
    w = two_node_world()
    w.vms["vm"] = world_vm("vm", "h", vcpus=1, memory={0: 2 * GiB}, cpu_nodes={1})
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, MemoryMove)
    assert (move.vm, move.to_nodes, move.bytes_to_move) == ("vm", (1,), 2 * GiB)
    assert "where its bound vCPUs run" in move.reason
    assert "locality 0% < 90%" in move.reason


def test_unbound_vcpus_follow_memory_for_free() -> None:
    """An unbound VM whose vCPUs wandered off its memory is bound to where the memory is."""
    w = two_node_world()
    w.vms["vm"] = world_vm(
        "vm", "h", vcpus=2, memory={0: 2 * GiB}, cpu_nodes={0, 1}, running={1}
    )
    [move] = NumaplaneRebalancer().plan(w.view())
    assert move == AffinityChange(vm="vm", host="h", nodes=(0,), reason=move.reason)
    assert "bind its 2 vCPUs there" in move.reason


def test_vm_larger_than_a_node_goes_to_the_nearest_pair() -> None:
    """20 GiB on 16 GiB nodes needs two: the SNC siblings (distance 11), not across (21)."""
    w = World({"h": bare(snc4(memory_gib=16))})
    w.vms["big"] = world_vm(
        "big", "h", vcpus=8, memory={0: 10 * GiB, 2: 10 * GiB}, cpu_nodes={0, 1, 2, 3},
        running={0, 3},
    )
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, MemoryMove)
    assert move.to_nodes == (0, 1)
    assert move.bytes_to_move == 10 * GiB


def test_no_vcpus_piled_onto_a_full_node() -> None:
    """Node 0 holds the VM's memory but its CPUs are taken: memory moves to the vCPUs."""
    w = World({"h": bare(two_nodes(cpus=2, memory_gib=8))})
    w.vms["busy"] = world_vm("busy", "h", vcpus=2, memory={0: 1 * GiB}, cpu_nodes={0})
    w.vms["vm"] = world_vm(
        "vm", "h", vcpus=2, memory={0: 2 * GiB}, cpu_nodes={0, 1}, running={1}
    )
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, MemoryMove)
    assert (move.vm, move.to_nodes) == ("vm", (1,))


def test_budget_spreads_moves_over_periods() -> None:
    s = RebalanceSettings(bandwidth_bytes_per_s=GiB // 4, period_s=10.0)  # 2.5 GiB a pass
    w = two_node_world()
    for name in ("a", "b"):
        w.vms[name] = world_vm(name, "h", vcpus=1, memory={0: 2 * GiB}, cpu_nodes={1})
    r = NumaplaneRebalancer(s)
    first = r.plan(w.view())
    assert [a.vm for a in first] == ["a"]
    w.apply(first[0])
    w.now += 5.0  # half a period: 1.25 GiB refilled, 0.5 left over: not enough
    assert r.plan(w.view()) == ()
    w.now += 5.0
    assert [a.vm for a in r.plan(w.view())] == ["b"]


def test_a_move_larger_than_the_budget_goes_alone_when_the_bucket_is_full() -> None:
    """6 GiB against a 2.5 GiB pass: it goes (the most locality, and the bucket is full),
    alone, and the host's debt keeps everything else back until the bandwidth repaid it."""
    s = RebalanceSettings(bandwidth_bytes_per_s=GiB // 4, period_s=10.0)  # 2.5 GiB a pass
    w = two_node_world()
    w.vms["big"] = world_vm("big", "h", vcpus=1, memory={0: 6 * GiB}, cpu_nodes={1})
    w.vms["small"] = world_vm("small", "h", vcpus=1, memory={0: 1 * GiB}, cpu_nodes={1})
    r = NumaplaneRebalancer(s)
    first = r.plan(w.view())
    assert [a.vm for a in first] == ["big"]
    w.apply(first[0])
    w.now += 10.0  # 2.5 GiB back: the bucket is at -1 GiB
    assert r.plan(w.view()) == ()
    w.now += 10.0  # +1.5 GiB: 1 GiB fits
    assert [a.vm for a in r.plan(w.view())] == ["small"]


def test_cooldown_and_busy_vms_are_left_alone() -> None:
    """`recent`'s bound node is full, so its fix is a re-binding (to node 0, where its
    memory is): not within its cool-down. `busy` has a move in flight."""
    w = two_node_world()
    w.vms["full"] = world_vm("full", "h", vcpus=1, memory={1: 8 * GiB}, cpu_nodes={1})
    w.vms["recent"] = world_vm("recent", "h", vcpus=1, memory={0: GiB}, cpu_nodes={1})
    w.vms["busy"] = world_vm("busy", "h", vcpus=1, memory={0: GiB}, cpu_nodes={1})
    w.last_moved["recent"] = 0.0
    w.now = 299.0
    r = NumaplaneRebalancer()
    assert r.plan(w.view(), RebalanceContext(busy=frozenset({"busy"}))) == ()
    w.now = 300.0
    [rebind] = r.plan(w.view(), RebalanceContext(busy=frozenset({"busy"})))
    assert isinstance(rebind, AffinityChange) and (rebind.vm, rebind.nodes) == ("recent", (0,))


def test_in_its_cooldown_a_vm_s_memory_may_still_follow_its_bound_vcpus() -> None:
    """Re-bound to node 1 a minute ago while node 1 was full; now node 1 has room: its
    memory follows. That changes no binding, so it cannot ping-pong."""
    w = two_node_world()
    w.vms["vm"] = world_vm("vm", "h", vcpus=1, memory={0: 2 * GiB}, cpu_nodes={1})
    w.last_moved["vm"] = 0.0
    w.now = 60.0
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, MemoryMove)
    assert (move.vm, move.to_nodes, move.bytes_to_move) == ("vm", (1,), 2 * GiB)
    assert "where its bound vCPUs run" in move.reason


def test_host_pressure_that_balloons_cannot_relieve_moves_a_vm_after_the_grace() -> None:
    topo = bare(topology([4, 4], [8, 8], [[10, 21], [21, 10]]))
    w = World({"full": topo, "empty": topo})
    for i in range(4):  # 15.6 GiB of 16 used, all of it reserved
        w.vms[f"vm{i}"] = world_vm(
            f"vm{i}", "full", vcpus=1, memory={i % 2: int(3.9 * GiB)}, cpu_nodes={i % 2}
        )
    reserved = RebalanceContext(reservations={f"vm{i}": int(3.9 * GiB) for i in range(4)})
    r = NumaplaneRebalancer()
    assert r.plan(w.view(), reserved) == ()  # pressure starts now
    w.now = 29.0
    assert r.plan(w.view(), reserved) == ()
    w.now = 30.0
    [move] = r.plan(w.view(), reserved)
    assert isinstance(move, HostMove)
    assert (move.host, move.to_host, move.bytes_to_move) == ("full", "empty", int(3.9 * GiB))
    assert "balloons cannot reclaim" in move.reason
    # What the target claims while the copy runs: the planner's split, on its nodes.
    assert sum(b for _, b in move.arrival) == move.bytes_to_move
    assert {n for n, _ in move.arrival} <= set(move.to_nodes)
    # Without reservations the balloon policy can relieve it: no host move.
    r2 = NumaplaneRebalancer()
    r2.plan(w.view())
    w.now = 100.0
    assert r2.plan(w.view()) == ()


def test_no_host_move_to_a_host_that_cannot_live_migrate() -> None:
    topo = bare(topology([4, 4], [8, 8], [[10, 21], [21, 10]]))
    w = World({"full": topo, "empty": topo})
    for i in range(4):
        w.vms[f"vm{i}"] = world_vm(
            f"vm{i}", "full", vcpus=1, memory={i % 2: int(3.9 * GiB)}, cpu_nodes={i % 2}
        )
    ctx = RebalanceContext(
        reservations={f"vm{i}": int(3.9 * GiB) for i in range(4)},
        live_migration_hosts=frozenset({"full"}),
    )
    r = NumaplaneRebalancer()
    r.plan(w.view(), ctx)
    w.now = 60.0
    assert r.plan(w.view(), ctx) == ()


def _stuck_world(on_bound_node: float, filler_gib: float) -> World:
    """Host `full`: `vm` is bound to node 1, which has no room for the rest of its memory;
    node 0 has no CPU room for its vCPUs, and no other VM has anywhere to go. Host `empty`
    is empty."""
    topo = bare(topology([4, 4], [8, 8], [[10, 21], [21, 10]]))
    w = World({"full": topo, "empty": topo})
    w.vms["cpu-hog"] = world_vm("cpu-hog", "full", vcpus=4, memory={0: 3 * GiB}, cpu_nodes={0})
    w.vms["filler"] = world_vm(
        "filler", "full", vcpus=1, memory={1: int(filler_gib * GiB)}, cpu_nodes={1}
    )
    memory = {0: int((3.9 - on_bound_node) * GiB)}
    if on_bound_node:
        memory[1] = int(on_bound_node * GiB)
    w.vms["vm"] = world_vm("vm", "full", vcpus=1, memory=memory, cpu_nodes={1})
    return w


def test_a_vm_its_host_has_no_room_for_live_migrates_where_it_is_local() -> None:
    """Nothing on `full` can make `vm` local, so it waits for no departure: it moves to
    the host with room, whole, and is local there."""
    w = _stuck_world(on_bound_node=0.0, filler_gib=7.5)
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, HostMove)
    assert (move.vm, move.host, move.to_host) == ("vm", "full", "empty")
    assert move.bytes_to_move == w.vms["vm"].resident
    assert "no node set on full has room for vm" in move.reason
    assert sum(b for _, b in move.arrival) == move.bytes_to_move
    assert {n for n, _ in move.arrival} <= set(move.to_nodes)
    w.apply(move)
    assert w.vms["vm"].locality == 1.0
    # Moved: left alone through its cool-down, and then it has nothing left to fix.
    assert NumaplaneRebalancer().plan(w.view()) == ()


def test_no_live_migration_for_locality_that_buys_too_little() -> None:
    """Locality 64 %: a host move would copy 3.9 GiB to make 1.4 GiB local (under
    `host_move_min_gain`), so the VM waits for room on its host."""
    w = _stuck_world(on_bound_node=2.5, filler_gib=5.0)
    assert NumaplaneRebalancer().plan(w.view()) == ()
    eager = NumaplaneRebalancer(RebalanceSettings(host_move_min_gain=0.3))
    [move] = eager.plan(w.view())
    assert isinstance(move, HostMove)


def test_locality_host_moves_can_be_turned_off_and_need_live_migration() -> None:
    w = _stuck_world(on_bound_node=0.0, filler_gib=7.5)
    # Both rules that live-migrate for locality off (making room would send cpu-hog away).
    off = NumaplaneRebalancer(
        RebalanceSettings(locality_host_moves=False, make_room_across_hosts=False)
    )
    assert off.plan(w.view()) == ()
    only_source = RebalanceContext(live_migration_hosts=frozenset({"full"}))
    assert NumaplaneRebalancer().plan(w.view(), only_source) == ()


def test_a_later_move_does_not_count_on_room_a_multi_node_move_may_take() -> None:
    """vm0's 768 MiB go to nodes 2,3, both 32 from node 0: the model guesses node 3 (more
    room), but an executor may fill node 2's last 512 MiB first. vm2 then must not be
    sent to node 2 in the same pass (Hypothesis found this; the world fills by node id)."""
    four = [[10, 12, 32, 32], [12, 10, 32, 32], [32, 32, 10, 12], [32, 32, 12, 10]]
    w = World({"h": bare(topology([4, 4, 4, 4], [4, 4, 4, 4], four))})
    mib = GiB // 1024
    w.vms["vm0"] = world_vm(
        "vm0", "h", vcpus=2, memory={0: 768 * mib, 2: 3584 * mib}, cpu_nodes={0, 1, 2, 3},
        running={0},
    )  # fmt: skip
    for name, running in (("vm1", {0, 1}), ("vm2", {1})):
        w.vms[name] = world_vm(
            name, "h", vcpus=3, memory={0: 256 * mib}, cpu_nodes={0, 1, 2, 3}, running=running
        )
    actions = NumaplaneRebalancer().plan(w.view())
    assert sorted(a.vm for a in actions if isinstance(a, MemoryMove)) == ["vm0", "vm2"]
    for action in actions:
        w.apply(action)  # raises DoesNotFit if a move was promised room it had not


def test_a_vm_whose_nodes_the_operator_fixed_is_never_moved() -> None:
    """`vm create --nodes 0` is the operator's binding: the rebalancer leaves it remote
    rather than overrule it (a manual `vm migrate` still may)."""
    w = two_node_world()
    w.vms["vm"] = world_vm("vm", "h", vcpus=1, memory={0: 2 * GiB}, cpu_nodes={1})
    w.vms["vm"].pinned_nodes = True
    assert NumaplaneRebalancer().plan(w.view()) == ()
    w.vms["vm"].pinned_nodes = False
    assert NumaplaneRebalancer().plan(w.view()) != ()


def test_a_vm_whose_host_the_operator_fixed_stays_on_it() -> None:
    """`vm create --host full`: no live migration for locality; moves on its host are fine
    (here cpu-hog leaves to make CPU room on node 0, where vm's memory is, and vm's vCPUs
    are bound there: `make_room_across_hosts`)."""
    w = _stuck_world(on_bound_node=0.0, filler_gib=7.5)
    w.vms["vm"].pinned_host = True
    actions = NumaplaneRebalancer().plan(w.view())
    assert [(type(a).__name__, a.vm) for a in actions] == [
        ("HostMove", "cpu-hog"),
        ("AffinityChange", "vm"),
    ]
    no_room = RebalanceSettings(make_room_across_hosts=False)
    assert NumaplaneRebalancer(no_room).plan(w.view()) == ()
    w.vms["vm"].pinned_host = False
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, HostMove)
