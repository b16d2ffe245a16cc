"""Homes for floating VMs (`numaplane.controller.policy.rebalance.floating`), worked
examples carried out in `rebalance_world`: the deadlock a one-VM-at-a-time repair cannot
leave, two VMs trading places, re-binding without a copy, overcommitted hosts, the
budget, and no second move once homed."""

from __future__ import annotations

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.rebalance import NumaplaneRebalancer, RebalanceSettings
from numaplane.controller.policy.types import Action, AffinityChange, MemoryMove
from tests.support.placement_builders import topology, two_nodes
from tests.support.rebalance_world import World, bare, world_vm

SETTINGS = RebalanceSettings(bandwidth_bytes_per_s=512 * MiB, period_s=10.0)


def _carry_out(world: World, actions: tuple[Action, ...]) -> None:
    """The pass's moves side by side, then every node must hold its memory."""
    for action in actions:
        world.apply(action, check_room=False)
    world.check_room()


def _kernbench() -> World:
    """Xen's kernbench setup placed NUMA-blind: four 4-vCPU VMs on two 8-CPU nodes, each
    with two vCPUs and half of its memory on each node."""
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=6))})
    for i in range(4):
        w.vms[f"vm{i}"] = world_vm(
            f"vm{i}", "h", vcpus=4, memory={0: 512 * MiB, 1: 512 * MiB},
            cpu_nodes={0, 1}, running={0, 1},
        )  # fmt: skip
    return w


def test_a_full_host_of_spread_vms_is_rehomed_in_one_pass() -> None:
    w = _kernbench()
    assert all(vm.locality == 0.5 for vm in w.vms.values())
    actions = NumaplaneRebalancer(SETTINGS).plan(w.view())
    # Every VM at once: no node had CPU room for a whole VM before another left it.
    assert sorted(a.vm for a in actions) == ["vm0", "vm1", "vm2", "vm3"]
    assert all(isinstance(a, MemoryMove) and a.bytes_to_move == 512 * MiB for a in actions)
    _carry_out(w, actions)
    assert all(vm.locality == 1.0 for vm in w.vms.values())
    assert sorted(w.load("h", n) for n in (0, 1)) == [8.0, 8.0]  # within the CPUs


def test_without_the_floating_rule_the_same_host_stays_spread() -> None:
    """The deadlock itself: compaction alone finds no node with CPU room."""
    w = _kernbench()
    off = RebalanceSettings(bandwidth_bytes_per_s=512 * MiB, period_s=10.0, home_floating=False)
    assert NumaplaneRebalancer(off).plan(w.view()) == ()


def test_two_vms_larger_than_a_node_trade_places() -> None:
    """numa01's shape: two 16-vCPU, 24 GiB VMs on four 8-CPU, 16 GiB nodes, each spread
    6 GiB per node. Neither fits two nodes until the other has left them: planned
    together, each gets a pair of near nodes, and the copies complete side by side."""
    ring = [[10, 16, 16, 22], [16, 10, 22, 16], [16, 22, 10, 16], [22, 16, 16, 10]]
    w = World({"quad": bare(topology([8] * 4, [16] * 4, ring))})
    for name in ("a", "b"):
        w.vms[name] = world_vm(
            name, "quad", vcpus=16, memory=dict.fromkeys(range(4), 6 * GiB),
            cpu_nodes={0, 1, 2, 3}, running={0, 1, 2, 3},
        )  # fmt: skip
    actions = NumaplaneRebalancer(SETTINGS).plan(w.view())
    homes = {a.vm: frozenset(a.to_nodes) for a in actions if isinstance(a, MemoryMove)}
    assert sorted(homes.values(), key=sorted) == [frozenset({0, 1}), frozenset({2, 3})]
    _carry_out(w, actions)  # raises DoesNotFit unless the trade can be made
    assert all(vm.locality == 0.5 for vm in w.vms.values())  # each vCPU: half its memory


def test_a_vm_whose_memory_is_already_home_is_only_rebound() -> None:
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=8))})
    w.vms["vm"] = world_vm("vm", "h", vcpus=4, memory={1: 2 * GiB}, cpu_nodes={0, 1},
                           running={0, 1})  # fmt: skip
    actions = NumaplaneRebalancer(SETTINGS).plan(w.view())
    assert len(actions) == 1 and isinstance(actions[0], AffinityChange)
    assert actions[0].nodes == (1,) and "holds all its memory" in actions[0].reason
    _carry_out(w, actions)
    assert w.vms["vm"].locality == 1.0


def test_an_overcommitted_host_gives_each_node_its_share() -> None:
    """24 vCPUs on 16 CPUs: each node may carry 12; two VMs get a node each, the third
    spreads over both (it cannot have one node's 12 without overloading it)."""
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=8))})
    for i in range(3):
        w.vms[f"vm{i}"] = world_vm(
            f"vm{i}", "h", vcpus=8, memory={0: 1 * GiB, 1: 1 * GiB},
            cpu_nodes={0, 1}, running={0, 1},
        )  # fmt: skip
    actions = NumaplaneRebalancer(SETTINGS).plan(w.view())
    _carry_out(w, actions)
    assert all(w.load("h", n) <= 12.0 + 1e-9 for n in (0, 1))
    assert sorted(round(vm.locality, 2) for vm in w.vms.values()) == [0.5, 1.0, 1.0]


def test_when_the_budget_cannot_take_the_copies_the_vcpus_go_first() -> None:
    """20 GiB to copy, a 1 GiB budget: the VM is bound to the node holding 70 % of its
    memory now (locality 0.5 -> 0.7); the rest follows its binding in later passes."""
    small = RebalanceSettings(bandwidth_bytes_per_s=100 * MiB, period_s=10.0)
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=64))})
    w.vms["big"] = world_vm("big", "h", vcpus=4, memory={0: 42 * GiB, 1: 18 * GiB},
                            cpu_nodes={0, 1}, running={0, 1})  # fmt: skip
    w.vms["other"] = world_vm("other", "h", vcpus=1, memory={0: 1 * GiB}, cpu_nodes={0},
                              running={0})  # fmt: skip
    r = NumaplaneRebalancer(small)
    r.budget.start_pass(["h"], 0.0)
    r.budget.charge("h", 10 * MiB)  # not full: no oversized plan this pass
    actions = r.plan(w.view())
    [bind] = [a for a in actions if a.vm == "big"]
    assert isinstance(bind, AffinityChange) and bind.nodes == (0,)
    assert "follows as the budget allows" in bind.reason
    _carry_out(w, actions)
    assert round(w.vms["big"].locality, 2) == 0.7


def test_a_homed_vm_is_left_alone_afterwards() -> None:
    w = _kernbench()
    r = NumaplaneRebalancer(SETTINGS)
    _carry_out(w, r.plan(w.view()))
    w.now += 10 * SETTINGS.cooldown_s
    assert r.plan(w.view()) == ()


def test_a_floating_vm_local_enough_is_not_moved() -> None:
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=8))})
    w.vms["vm"] = world_vm("vm", "h", vcpus=2, memory={0: 2 * GiB}, cpu_nodes={0, 1},
                           running={0})  # fmt: skip
    assert w.vms["vm"].locality == 1.0
    assert NumaplaneRebalancer(SETTINGS).plan(w.view()) == ()


def test_a_bound_guest_that_cannot_grow_where_it_is_gets_room() -> None:
    """rebalance-growth's case: `g` is bound to node 0, which is full, while its guest
    still has 3 GiB to touch; no node has room for all 6 GiB of it, so a neighbour on
    node 0 big enough to free that much leaves for node 1 and `g` grows in place."""
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=8))})
    w.vms["g"] = world_vm("g", "h", vcpus=2, memory={0: 3 * GiB}, cpu_nodes={0})
    w.vms["g"].guest_bytes = 6 * GiB
    w.vms["m"] = world_vm("m", "h", vcpus=1, memory={0: 2 * GiB}, cpu_nodes={0})
    w.vms["n"] = world_vm("n", "h", vcpus=1, memory={0: 3 * GiB}, cpu_nodes={0})
    w.vms["o"] = world_vm("o", "h", vcpus=1, memory={1: 2 * GiB}, cpu_nodes={1})
    actions = NumaplaneRebalancer(SETTINGS).plan(w.view())
    assert [(a.vm, a.to_nodes) for a in actions if isinstance(a, MemoryMove)] == [("n", (1,))]
    _carry_out(w, actions)
    assert w.free("h", 0) >= 3 * GiB  # g's guest can touch the rest where it runs


def test_a_bound_guest_moves_whole_to_a_node_that_holds_all_of_it() -> None:
    w = World({"h": bare(two_nodes(cpus=8, memory_gib=8))})
    w.vms["g"] = world_vm("g", "h", vcpus=2, memory={0: 2 * GiB}, cpu_nodes={0})
    w.vms["g"].guest_bytes = 6 * GiB
    w.vms["n"] = world_vm("n", "h", vcpus=1, memory={0: 6 * GiB}, cpu_nodes={0})
    [move] = [a for a in NumaplaneRebalancer(SETTINGS).plan(w.view()) if a.vm == "g"]
    assert isinstance(move, MemoryMove) and move.to_nodes == (1,)
    assert "still to touch" in move.reason
