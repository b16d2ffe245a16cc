"""The `numaplane` balloon policy on small hosts worked out by hand."""

from __future__ import annotations

from dataclasses import replace

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.balloon import BalloonSettings, HostBalloonPlan, decide_host
from tests.support.balloon_builders import apply, host, vm

# No headroom and a large step, so that the arithmetic below shows the shares alone.
PLAIN = BalloonSettings(max_step_bytes=8 * GiB, guest_headroom_fraction=0.0)


def changes(plan: HostBalloonPlan) -> dict[str, int]:
    return {d.vm: d.change_bytes for d in plan.decisions}


def test_pressure_reclaims_by_idle_memory_and_inversely_to_shares() -> None:
    # 40 GiB host with 7 GiB free: 17.5% < 20%, aim 25% = 10 GiB, so 3 GiB to reclaim.
    # Weights (active + 4 * idle) / shares: a (4 + 16) / 1000 = 0.02, b the same over
    # 2000 shares = 0.01; c has nothing idle and no room. a gives 2 GiB, b 1 GiB.
    h = host(
        {0: 7 * GiB},
        [
            vm("a", 8 * GiB, usable=4 * GiB),
            vm("b", 8 * GiB, usable=4 * GiB, shares=2000),
            vm("c", 8 * GiB, usable=0),
        ],
        node_total=40 * GiB,
    )
    plan = decide_host(h, PLAIN)
    assert plan.state == "pressure"
    assert changes(plan) == {"a": -2 * GiB, "b": -1 * GiB}
    assert any("idle tax" in r for r in plan.decisions[0].reasons)


def test_more_idle_memory_is_taxed_more() -> None:
    # a: active 4, idle 4 -> 4 + 16 = 20; d: active 6, idle 2 -> 6 + 8 = 14 (per 1000
    # shares). 3.4 GiB shared 20:14 gives 2 GiB and 1.4 GiB.
    h = host(
        {0: int(6.6 * GiB)},
        [vm("a", 8 * GiB, usable=4 * GiB), vm("d", 8 * GiB, usable=2 * GiB)],
        node_total=40 * GiB,
    )
    plan = decide_host(h, PLAIN)
    got = changes(plan)
    assert got["a"] == -2 * GiB
    assert abs(got["d"] + 1.4 * GiB) <= MiB


def test_normal_pressure_stops_at_active_plus_headroom() -> None:
    # Headroom 5% of 8 GiB = 409.6 MiB: a can give 4 GiB - 409.6 MiB of its 4 GiB idle.
    h = host({0: 1 * GiB}, [vm("a", 8 * GiB, usable=4 * GiB)], node_total=40 * GiB)
    s = replace(PLAIN, guest_headroom_fraction=0.05, critical_free_fraction=0.0)
    plan = decide_host(h, s)
    (d,) = plan.decisions
    assert d.target_bytes == 4 * GiB + int(0.05 * 8 * GiB)
    assert "active memory + headroom" in d.reasons[0]


def test_critical_pressure_goes_down_to_the_reservation_and_no_further() -> None:
    # 1 GiB free of 40: critical. Steps are doubled (2 x 512 MiB); a may lose 1 GiB per
    # period but stops at its 7.5 GiB reservation, b (no reservation) gives its 1 GiB.
    h = host(
        {0: 1 * GiB},
        [vm("a", 8 * GiB, usable=0, reservation=int(7.5 * GiB)),
         vm("b", 8 * GiB, usable=0)],
        node_total=40 * GiB,
    )
    plan = decide_host(h, BalloonSettings())
    assert plan.state == "critical"
    assert changes(plan) == {"a": -512 * MiB, "b": -1 * GiB}
    assert all("critical" in d.reasons[0] for d in plan.decisions)


def test_a_short_node_is_relieved_from_the_vms_on_it() -> None:
    # Node 0 has 2 of 32 GiB free (6%), node 1 has 24 (75%): the host (41%) is fine, and
    # MOM would do nothing. numaplane takes from the VMs on node 0 only, up to the aim
    # of the node (25% = 8 GiB: 6 GiB), one 512 MiB step each.
    vms = [vm(f"n0-{i}", 6 * GiB, usable=4 * GiB, node=0) for i in range(5)]
    vms += [vm("n1", 8 * GiB, usable=6 * GiB, node=1)]
    h = host({0: 2 * GiB, 1: 24 * GiB}, vms)
    plan = decide_host(h, BalloonSettings())
    assert plan.short_nodes == (0,)
    assert plan.state == "relief"
    assert changes(plan) == {f"n0-{i}": -512 * MiB for i in range(5)}
    assert "node 0" in plan.decisions[0].reasons[0]


def test_a_vm_mostly_on_the_short_node_gives_more() -> None:
    # Node 0 needs 8 - 5 = 3 GiB freed. Same weight, but split has a quarter of its
    # memory there: asked in proportion to weight * p, it gives a quarter as much of
    # its own memory (and frees a sixteenth as much on node 0) as local.
    split = vm("split", 8 * GiB, usable=6 * GiB, node={0: 2 * GiB, 1: 6 * GiB})
    local = vm("local", 8 * GiB, usable=6 * GiB, node=0)
    h = host({0: 5 * GiB, 1: 20 * GiB}, [split, local])
    plan = decide_host(h, PLAIN)
    got = changes(plan)
    assert got["local"] < got["split"] < 0
    assert abs(got["local"] - 4 * got["split"]) <= 4 * MiB
    freed_on_node_0 = -got["local"] - got["split"] / 4
    assert abs(freed_on_node_0 - 3 * GiB) <= 4 * MiB


def test_the_hysteresis_band_gives_nothing_back() -> None:
    ballooned = vm("a", 4 * GiB, usable=2 * GiB, max_bytes=8 * GiB)
    for free_gib in (9, 10, 12):  # 22.5%, 25%, 30% of 40 GiB: within [20%, 30%]
        h = host({0: free_gib * GiB}, [ballooned], node_total=40 * GiB)
        assert decide_host(h, BalloonSettings()).decisions == ()


def test_relief_gives_back_down_to_the_relief_line_most_starved_first() -> None:
    # 13 GiB free of 40 (32.5%): 1 GiB may go back before the 30% line (12 GiB).
    # b has more shares per adjusted byte, so it is served first: one 512 MiB step each.
    h = host(
        {0: 13 * GiB},
        [
            vm("a", 4 * GiB, usable=2 * GiB, max_bytes=8 * GiB),
            vm("b", 4 * GiB, usable=2 * GiB, max_bytes=8 * GiB, shares=3000),
            vm("c", 4 * GiB, usable=2 * GiB, max_bytes=8 * GiB, shares=500),
        ],
        node_total=40 * GiB,
    )
    plan = decide_host(h, BalloonSettings())
    assert plan.state == "relief"
    assert changes(plan) == {"b": 512 * MiB, "a": 512 * MiB}
    after = apply(h, plan.decisions)
    assert decide_host(after, BalloonSettings()).decisions == ()


def test_a_starved_vm_grows_with_memory_taken_from_idle_ones() -> None:
    # 9 GiB free of 40 (22.5%, in the band): nothing to reclaim for the host, but s has
    # 100 MiB available (< its 409.6 MiB headroom). It grows by up to twice its headroom
    # minus what it has, paid for by the idle VM i.
    h = host(
        {0: 9 * GiB},
        [
            vm("s", 4 * GiB, usable=100 * MiB, max_bytes=8 * GiB),
            vm("i", 8 * GiB, usable=6 * GiB),
        ],
        node_total=40 * GiB,
    )
    plan = decide_host(h, replace(BalloonSettings(), max_step_bytes=2 * GiB))
    got = changes(plan)
    assert got["s"] > 0 and got["i"] == -got["s"]
    assert got["s"] == (2 * int(0.05 * 8 * GiB) - 100 * MiB) // MiB * MiB
    assert "starved" in next(d for d in plan.decisions if d.vm == "s").reasons[0]


def test_balloons_in_flight_count_as_freed() -> None:
    # Free memory is 7 GiB of 40 (17.5%), but a's balloon is still inflating from 8 to
    # 5 GiB: 3 GiB more will be free (25%), so nothing else is asked.
    moving = replace(vm("a", 8 * GiB, usable=4 * GiB), target_bytes=5 * GiB)
    h = host({0: 7 * GiB}, [moving, vm("b", 8 * GiB, usable=4 * GiB)], node_total=40 * GiB)
    plan = decide_host(h, BalloonSettings())
    assert plan.state == "steady"
    assert plan.decisions == ()


def test_out_of_bounds_targets_are_corrected_and_manual_vms_left_alone() -> None:
    low = vm("low", 2 * GiB, usable=1 * GiB, reservation=3 * GiB)
    high = vm("high", 8 * GiB, usable=0, limit=6 * GiB)
    manual = vm("manual", 1 * GiB, usable=0, reservation=3 * GiB, auto=False)
    plan = decide_host(host({0: 10 * GiB}, [low, high, manual], node_total=40 * GiB),
                       BalloonSettings())
    assert changes(plan) == {"low": 1 * GiB, "high": -2 * GiB}
    assert "reservation" in plan.decisions[1].reasons[0]


def test_small_needs_are_met_by_fewer_larger_moves_not_crumbs() -> None:
    # 400 MiB to reclaim over ten equal VMs would be 40 MiB each, under the 64 MiB
    # minimum change: the policy concentrates it on six VMs (66+ MiB each) instead.
    vms = [vm(f"v{i}", 3 * GiB, usable=2 * GiB) for i in range(10)]
    free = int(0.25 * 40 * GiB) - 400 * MiB - 3 * GiB  # below 20% after the first 3 GiB
    h = host({0: free + 3 * GiB - int(0.06 * 40 * GiB)}, vms, node_total=40 * GiB)
    plan = decide_host(h, BalloonSettings())
    assert plan.state == "pressure"
    assert plan.decisions
    assert all(-d.change_bytes >= 64 * MiB for d in plan.decisions)


def test_disabled_policy_moves_nothing() -> None:
    h = host({0: 1 * GiB}, [vm("a", 8 * GiB, usable=6 * GiB)], node_total=40 * GiB)
    assert decide_host(h, replace(BalloonSettings(), enabled=False)).decisions == ()
