"""Invariants of the `numaplane` balloon policy, over generated hosts and settings.

Never below a reservation, never above a limit (or the maximum), a step at most per
period, no change smaller than `min_change_bytes` (bound corrections aside), only VMs
with auto on, deterministic whatever the order of its input — and no oscillation: on a
steady input, applying the policy's output and running it again converges to a state in
which it changes nothing.
"""

from __future__ import annotations

import random
from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from numaplane.controller.policy.balloon import BalloonHost, BalloonSettings, decide_host
from tests.support.balloon_builders import apply, hosts
from tests.support.balloon_builders import settings as balloon_settings

ROUNDS = 400
"""Enough for any generated host to settle: each round moves some balloon by at least
min_change_bytes toward a bound, and the bounds are finitely far."""


def _clamp(v: int, lo: int, hi: int) -> int:
    return min(max(v, lo), hi)


@given(hosts(), balloon_settings())
def test_targets_stay_within_reservation_and_limit(h: BalloonHost, s: BalloonSettings) -> None:
    vms = {v.name: v for v in h.vms}
    for d in decide_host(h, s).decisions:
        v = vms[d.vm]
        assert d.target_bytes >= v.reservation_bytes or d.target_bytes == v.max_bytes
        assert d.target_bytes <= v.ceiling_bytes
        assert d.target_bytes <= v.max_bytes
        if v.limit_bytes is not None and v.limit_bytes >= v.reservation_bytes:
            assert d.target_bytes <= v.limit_bytes


@given(hosts(), balloon_settings())
def test_steps_are_bounded_and_not_too_small(h: BalloonHost, s: BalloonSettings) -> None:
    vms = {v.name: v for v in h.vms}
    plan = decide_host(h, s)
    step = s.max_step_bytes * (s.critical_step_factor if plan.state == "critical" else 1)
    for d in plan.decisions:
        v = vms[d.vm]
        start = _clamp(v.target_bytes, v.floor_bytes, v.ceiling_bytes)
        moved = abs(d.target_bytes - start)
        assert moved <= step
        assert moved == 0 or moved >= s.min_change_bytes
        assert moved > 0 or start != v.target_bytes  # a decision without a step corrects


@given(hosts(), balloon_settings())
def test_only_auto_vms_move(h: BalloonHost, s: BalloonSettings) -> None:
    auto = {v.name for v in h.vms if v.auto}
    assert {d.vm for d in decide_host(h, s).decisions} <= auto
    assert decide_host(h, replace(s, enabled=False)).decisions == ()


@given(hosts(), balloon_settings(), st.randoms(use_true_random=False))
def test_deterministic_whatever_the_input_order(
    h: BalloonHost, s: BalloonSettings, rng: random.Random
) -> None:
    shuffled = list(h.vms)
    rng.shuffle(shuffled)
    first = decide_host(h, s)
    assert decide_host(h, s) == first
    assert decide_host(replace(h, vms=tuple(shuffled)), s) == first


@settings(max_examples=60)
@given(hosts(steady=True), balloon_settings())
def test_no_oscillation_on_a_steady_input(h: BalloonHost, s: BalloonSettings) -> None:
    seen: dict[tuple[int, ...], int] = {}
    for round_ in range(ROUNDS):
        plan = decide_host(h, s)
        if not plan.decisions:
            return
        key = tuple(v.target_bytes for v in h.vms)
        assert key not in seen, f"state of round {seen.get(key)} came back at round {round_}"
        seen[key] = round_
        h = apply(h, plan.decisions)
    raise AssertionError(f"still changing after {ROUNDS} rounds")
