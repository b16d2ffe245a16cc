"""The untouched-memory rule (`controller/numaplane/controller/policy/rebalance/untouched.py`): a
host whose guests have more memory to touch than it has free sends such VMs away while they have
little to copy, to hosts with room for their whole guest."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from numaplane.common.units import GiB
from numaplane.controller.policy.rebalance import (
    NumaplaneRebalancer,
    RebalanceContext,
    RebalanceSettings,
)
from numaplane.controller.policy.types import HostMove, MemoryMove
from tests.support.placement_builders import topology
from tests.support.rebalance_world import World, bare, world_vm

NODE = bare(topology([4, 4], [8, 8], [[10, 21], [21, 10]]))


def _full_host() -> World:
    """`a` is full (16 GiB used) and `fresh` has touched 1 of its 6 GiB; `b` is empty."""
    w = World({"a": NODE, "b": NODE})
    w.vms["old"] = world_vm("old", "a", vcpus=2, memory={0: 7 * GiB}, cpu_nodes={0})
    w.vms["fresh"] = world_vm("fresh", "a", vcpus=2, memory={1: 1 * GiB}, cpu_nodes={1})
    w.vms["fresh"].guest_bytes = 6 * GiB
    w.vms["other"] = world_vm("other", "a", vcpus=2, memory={0: 1 * GiB, 1: 7 * GiB},
                              cpu_nodes={1})  # fmt: skip
    return w


def test_a_vm_with_memory_its_full_host_cannot_back_leaves_before_it_touches_it() -> None:
    w = _full_host()
    [move] = NumaplaneRebalancer().plan(w.view())
    assert isinstance(move, HostMove)
    assert (move.vm, move.host, move.to_host, move.bytes_to_move) == ("fresh", "a", "b", GiB)
    # The claim on the target covers the whole guest, not just what is copied.
    assert sum(b for _, b in move.arrival) == 6 * GiB
    assert "more memory to touch than it has free" in move.reason
    w.apply(move)  # raises DoesNotFit if b could not hold all 6 GiB
    assert w.vms["fresh"].resident == 6 * GiB and w.vms["fresh"].locality == 1.0


def test_nothing_moves_without_the_guests_sizes_or_with_room_to_back_them() -> None:
    w = _full_host()
    w.vms["fresh"].guest_bytes = None
    assert NumaplaneRebalancer().plan(w.view()) == ()
    roomy = _full_host()
    roomy.vms["other"].memory = {1: 2 * GiB}  # 6 GiB free: the 5 GiB to touch fit
    assert not [
        a for a in NumaplaneRebalancer().plan(roomy.view()) if a.vm == "fresh"
    ]
    # 2 GiB free (12 % of the host, above the 5 % pressure line) with 5 GiB still to touch:
    # overcommitted by design, not out of memory yet, so nothing moves.
    overcommitted = _full_host()
    overcommitted.vms["other"].memory = {1: 6 * GiB}
    assert not [
        a for a in NumaplaneRebalancer().plan(overcommitted.view()) if a.vm == "fresh"
    ]


def test_pins_cool_downs_busy_and_the_setting_keep_it_home() -> None:
    for change in ("pinned_host", "pinned_nodes"):
        w = _full_host()
        setattr(w.vms["fresh"], change, True)
        assert not [a for a in NumaplaneRebalancer().plan(w.view()) if a.vm == "fresh"]
    w = _full_host()
    w.last_moved["fresh"], w.now = 0.0, 60.0
    assert not [a for a in NumaplaneRebalancer().plan(w.view()) if a.vm == "fresh"]
    busy = RebalanceContext(busy=frozenset({"fresh"}))
    assert NumaplaneRebalancer().plan(_full_host().view(), busy) == ()
    off = NumaplaneRebalancer(RebalanceSettings(untouched_moves=False))
    assert off.plan(_full_host().view()) == ()


def test_a_vm_that_has_touched_most_of_its_memory_is_not_worth_copying() -> None:
    """7 GiB resident and local, 1 GiB to touch: 1 GiB backed for 7 copied is under
    `host_move_min_gain` (0.5)."""
    w = _full_host()
    del w.vms["fresh"]
    w.vms["other"].memory = {1: 8 * GiB}
    w.vms["old"].guest_bytes = 8 * GiB
    w.vms["old"].memory = {0: 7 * GiB}
    w.vms["filler"] = world_vm("filler", "a", vcpus=1, memory={0: 1 * GiB}, cpu_nodes={0})
    assert NumaplaneRebalancer().plan(w.view()) == ()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 1), st.integers(0, 4), st.integers(0, 6)),
        min_size=1, max_size=5,
    ),
    st.integers(0, 12),
)  # fmt: skip
def test_every_move_lands_whole_within_the_budget(
    vms: list[tuple[int, int, int]], used_on_b: int
) -> None:
    """Random VMs on host `a` (node, GiB resident, GiB still to touch) and some memory used
    on `b`: whatever the rule plans, each VM's whole guest fits where it goes (the world
    raises DoesNotFit otherwise), copies its resident memory only, and the pass keeps
    each host's budget (or one oversized move alone)."""
    w = World({"a": NODE, "b": NODE})
    used = [0, 0]
    for i, (node, resident, untouched) in enumerate(vms):
        resident = min(resident, 8 - used[node])
        used[node] += resident
        vm = world_vm(f"v{i}", "a", vcpus=1, memory={node: resident * GiB}, cpu_nodes={node})
        vm.guest_bytes = (resident + untouched) * GiB
        w.vms[vm.name] = vm
    if used_on_b:
        w.vms["b-load"] = world_vm(
            "b-load", "b", vcpus=1, memory={0: min(used_on_b, 8) * GiB,
                                            1: max(0, used_on_b - 8) * GiB},
            cpu_nodes={0},
        )  # fmt: skip
    s = RebalanceSettings()
    actions = NumaplaneRebalancer(s).plan(w.view())
    moves = [a for a in actions if isinstance(a, HostMove) and "to touch" in a.reason]
    copied = [m.bytes_to_move for m in moves if m.bytes_to_move > 0]
    assert sum(copied) <= s.budget_bytes or len(copied) == 1
    for move in moves:
        vm = w.vms[move.vm]
        assert move.bytes_to_move == vm.resident
        assert sum(b for _, b in move.arrival) == max(vm.resident, vm.guest_bytes or 0)
    for action in actions:
        w.apply(action)


def _untouched_moves(actions: tuple[object, ...]) -> list[str]:
    return [a.vm for a in actions if isinstance(a, HostMove) and "to touch" in a.reason]


def test_a_host_that_ran_out_stays_short_after_departures_while_guests_still_touch() -> None:
    """Pass 1: `a` is full and its guests have 11 GiB to touch, but `b` is full too, so
    nothing moves. Pass 2: `old` and `b-load` left. `a` has 8 GiB free (50 %, far above
    the pressure line), still less than its guests' 11 GiB: it stays short for the
    rebalancer that saw it run out — its guests were blocked, the freed memory is theirs
    within the period — and not for one that did not. `f1` (5 GiB to touch on full node
    1) moves its 1 GiB to node 0, which has room for all of its guest (`growth_move`), its
    growth kept there; then `f2`'s 6 GiB no longer fit beside it, and `f2`, with nothing
    resident to copy, leaves."""
    w = World({"a": NODE, "b": NODE})
    w.vms["old"] = world_vm("old", "a", vcpus=1, memory={0: 8 * GiB}, cpu_nodes={0})
    w.vms["other"] = world_vm("other", "a", vcpus=1, memory={1: 7 * GiB}, cpu_nodes={1})
    w.vms["f1"] = world_vm("f1", "a", vcpus=1, memory={1: 1 * GiB}, cpu_nodes={1})
    w.vms["f2"] = world_vm("f2", "a", vcpus=1, memory={}, cpu_nodes={0})
    w.vms["f1"].guest_bytes = w.vms["f2"].guest_bytes = 6 * GiB
    w.vms["b-load"] = world_vm("b-load", "b", vcpus=1, memory={0: 8 * GiB, 1: 8 * GiB},
                               cpu_nodes={0, 1})  # fmt: skip
    r = NumaplaneRebalancer()
    assert _untouched_moves(r.plan(w.view())) == []
    del w.vms["old"], w.vms["b-load"]
    w.now += r.settings.period_s
    assert _untouched_moves(NumaplaneRebalancer().plan(w.view())) == []
    actions = r.plan(w.view())
    assert _untouched_moves(actions) == ["f2"]
    assert [(a.vm, a.to_nodes) for a in actions if isinstance(a, MemoryMove)] == [("f1", (0,))]
    for action in actions:
        w.apply(action)
    assert w.vms["f2"].host == "b"
    assert (w.vms["f1"].host, w.vms["f1"].locality) == ("a", 1.0)


def test_vms_leave_until_what_stays_fits_on_its_own_nodes() -> None:
    """`a` is out of memory (0.7 GiB free). `f1` (4 GiB to touch on node 0) leaves; then
    the host's free memory (0.7 GiB) would cover what is left to touch (0.5 GiB), but
    that is `f2`'s, bound to node 1 with 0.4 GiB free: it would spill remote, so `f2`
    leaves too. `f0`'s 0.2 GiB fit on node 0: its leaving helps nothing, it stays."""
    mib = GiB // 1024
    w = World({"a": NODE, "b": NODE})
    w.vms["old"] = world_vm("old", "a", vcpus=1, memory={0: 7885 * mib}, cpu_nodes={0})
    w.vms["other"] = world_vm("other", "a", vcpus=1, memory={1: 7270 * mib}, cpu_nodes={1})
    w.vms["f0"] = world_vm("f0", "a", vcpus=1, memory={}, cpu_nodes={0})
    w.vms["f1"] = world_vm("f1", "a", vcpus=1, memory={}, cpu_nodes={0})
    w.vms["f2"] = world_vm("f2", "a", vcpus=1, memory={1: 512 * mib}, cpu_nodes={1})
    w.vms["f0"].guest_bytes = 200 * mib
    w.vms["f1"].guest_bytes = 4 * GiB
    w.vms["f2"].guest_bytes = 1 * GiB
    actions = NumaplaneRebalancer().plan(w.view())
    assert _untouched_moves(actions) == ["f1", "f2"]
    for action in actions:
        w.apply(action)
