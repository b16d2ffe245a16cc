"""The `mom` baseline: oVirt MOM's default balloon rules, on hand-worked guests."""

from __future__ import annotations

from dataclasses import replace

import pytest

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.balloon import BalloonVm, GuestStats, MomBalloonPolicy
from tests.support.balloon_builders import host


def guest(name: str, cur: int, unused: int | None, *, max_bytes: int = 8 * GiB,
          reservation: int = 0) -> BalloonVm:
    return BalloonVm(
        name=name, max_bytes=max_bytes, target_bytes=cur, actual_bytes=cur,
        memory_by_node={0: cur}, reservation_bytes=reservation, auto=True,
        guest=None if unused is None else GuestStats(free_bytes=unused, usable_bytes=unused),
    )


def targets(free: int, *vms: BalloonVm) -> dict[str, int]:
    (plan,) = MomBalloonPolicy().decide([host({0: free}, vms, node_total=40 * GiB)])
    return {d.vm: d.target_bytes for d in plan.decisions}


def test_pressure_shrinks_by_at_most_five_percent() -> None:
    # h = 6/40 = 15%: the guest may keep 0.2 * 0.15 / 0.2 = 15% of 8 GiB free on top of
    # its 5 GiB used: floor 6.2 GiB; 95% of 8 GiB = 7.6 GiB is above it.
    assert targets(6 * GiB, guest("g", 8 * GiB, 3 * GiB)) == {"g": int(0.95 * 8 * GiB)}


def test_pressure_leaves_a_guest_without_unused_memory_alone() -> None:
    # Page cache counts as used for MOM: a guest whose cache fills it has nothing to give
    # under normal pressure (its floor, used + 15%, is above what it has).
    assert targets(6 * GiB, guest("g", 8 * GiB, 0)) == {}


def test_critical_pressure_pushes_guests_below_their_used_memory() -> None:
    # h = 1/40 = 2.5% <= 5%: allowed free = 2.5% - 5% = -2.5%: floor = 8 - 0.2 GiB.
    got = targets(1 * GiB, guest("g", 8 * GiB, 0))
    assert got == {"g": int(8 * GiB - 0.025 * 8 * GiB)}


def test_no_pressure_grows_to_used_plus_free_share() -> None:
    # h = 12/40 = 30%: floor = used 5 + 0.3 * 6 = 6.8 GiB, above 105% of 6 GiB.
    assert targets(12 * GiB, guest("g", 6 * GiB, 1 * GiB)) == {
        "g": 5 * GiB + int(0.3 * 6 * GiB)
    }


def test_growth_stops_at_the_maximum() -> None:
    assert targets(30 * GiB, guest("g", 7900 * MiB, 0)) == {"g": 8 * GiB}
    assert targets(30 * GiB, guest("g", 8 * GiB, 0)) == {}


def test_guaranteed_minimum_and_missing_statistics() -> None:
    below = guest("low", 3 * GiB, None, reservation=4 * GiB)
    blind = guest("blind", 8 * GiB, None)
    assert targets(1 * GiB, below, blind) == {"low": 4 * GiB}


def test_changes_under_a_quarter_percent_are_not_made() -> None:
    # h = 19.9%: floor = used + 19.9% of cur; with 20% unused that is 0.1% below cur.
    g = guest("g", 8 * GiB, int(0.2 * 8 * GiB))
    assert targets(int(0.199 * 40 * GiB), g) == {}


def test_only_auto_vms() -> None:
    manual = replace(guest("g", 8 * GiB, 3 * GiB), auto=False)
    assert targets(6 * GiB, manual) == {}


@pytest.mark.parametrize("free_gib", [0, 1, 6, 9, 20])
def test_never_below_the_reservation(free_gib: int) -> None:
    g = guest("g", 8 * GiB, 6 * GiB, reservation=7900 * MiB)
    assert all(t >= 7900 * MiB for t in targets(free_gib * GiB, g).values())
