"""`numaplane`: the cluster balloon policy, one host at a time.

Per period and host (free memory counts balloons still moving, see `work`):

1. A target outside [reservation, min(limit, max)] is brought inside at once (the
   reservation is a guarantee, the limit a cap); everything below moves from there.
2. The host's state, from its free share f: critical (f < critical), pressure
   (f < pressure), relief (f > relief), else steady — the band between pressure and
   relief is hysteresis: nothing is given back in it.
3. Whatever the state, a NUMA node below the pressure line is relieved first, from the
   VMs whose memory sits on it (`reclaim.node_pass`).
4. critical: the host is reclaimed up to the aim (the band's middle), down to
   reservations, at `critical_step_factor` steps. Nothing grows.
5. Otherwise: under pressure the host is reclaimed up to the aim by the idle tax, down
   to active + headroom; starved VMs grow, paid for by free memory above the aim or by
   reclaiming as much more from the others (`grow`), never taking a node they sit on
   below the critical line.
6. relief: then balloons deflate, most starved first, down to the relief line, no node
   below the aim (`grow.give_back`).

Only VMs with auto on are moved, and only when the policy is enabled; every change is
at most a step (correction excepted) and at least `min_change_bytes`.
"""

from __future__ import annotations

from collections.abc import Iterable

from numaplane.controller.policy.balloon.decisions import HostBalloonPlan, HostState
from numaplane.controller.policy.balloon.grow import (
    apply_starved,
    give_back,
    plan_starved,
    starved,
    trim,
)
from numaplane.controller.policy.balloon.inputs import BalloonHost
from numaplane.controller.policy.balloon.reclaim import (
    host_pass,
    node_pass,
    reclaim_capacity,
    short_nodes,
)
from numaplane.controller.policy.balloon.settings import BalloonSettings
from numaplane.controller.policy.balloon.work import HostWork, pct, size

NAME = "numaplane"


def host_state(fraction: float, s: BalloonSettings) -> HostState:
    if fraction < s.critical_free_fraction:
        return "critical"
    if fraction < s.pressure_free_fraction:
        return "pressure"
    if fraction > s.relief_free_fraction:
        return "relief"
    return "steady"


class NumaplaneBalloonPolicy:
    name = NAME

    def __init__(self, settings: BalloonSettings | None = None) -> None:
        self.settings = settings or BalloonSettings()

    def decide(self, hosts: Iterable[BalloonHost]) -> tuple[HostBalloonPlan, ...]:
        return tuple(decide_host(h, self.settings) for h in sorted(hosts, key=lambda h: h.name))


def decide_host(host: BalloonHost, s: BalloonSettings) -> HostBalloonPlan:
    work = HostWork(host, s)
    _correct(work)
    state = host_state(work.fraction(), s)
    short = short_nodes(work)
    reasons = [f"host free {pct(work.fraction())} (balloons in flight counted): {state}"]
    if short:
        reasons.append(
            "short nodes: " + ", ".join(f"{n} ({pct(work.node_fraction(n))})" for n in short)
        )
    before = pct(work.fraction())
    for node in short:
        node_pass(work, node, critical=state == "critical")
    if state == "critical":
        need = int(s.aim_free_fraction * work.total) - work.free
        host_pass(work, need, critical=True, why=f"critical: host free {before} "
                  f"< {pct(s.critical_free_fraction)}: reclaiming {size(need)} down to "
                  "reservations")
    else:
        _reclaim_and_feed(work, state, before)
        if state == "relief":
            give_back(work)
    decisions = work.decisions()
    if decisions:
        after = pct(work.fraction())
        reasons.append(f"{len(decisions)} balloon(s) moved; free memory after: {after}")
    return HostBalloonPlan(
        host=host.name,
        state=state,
        free_fraction=HostWork(host, s).fraction(),
        short_nodes=tuple(short),
        decisions=decisions,
        reasons=tuple(reasons),
    )


def _correct(work: HostWork) -> None:
    for name, t in work.items():
        if t.vm.target_bytes < t.current:
            work.move(name, t.current, f"target {size(t.vm.target_bytes)} was below the "
                      f"reservation: raised to {size(t.current)}", counts=False)
        elif t.vm.target_bytes > t.current:
            work.move(name, t.current, f"target {size(t.vm.target_bytes)} was above the "
                      f"limit: lowered to {size(t.current)}", counts=False)


def _reclaim_and_feed(work: HostWork, state: HostState, before: str) -> None:
    """Under pressure, reclaim to the aim; in any non-critical state, feed starved VMs."""
    s = work.s
    aim = int(s.aim_free_fraction * work.total)
    need = max(0, aim - work.free) if state == "pressure" else 0
    hungry = starved(work)
    fund_free = max(0, work.free - aim)
    capacity = reclaim_capacity(work, exclude=hungry)
    grants = plan_starved(work, hungry, fund_free + max(0, capacity - need))
    extra = max(0, sum(grants.values()) - fund_free)
    why = (
        f"host free {before} < pressure {pct(s.pressure_free_fraction)}: "
        f"reclaiming {size(need)} to reach {pct(s.aim_free_fraction)}"
        if need
        else "paying for starved VMs"
    )
    taken = host_pass(work, need + extra, critical=False, exclude=hungry, why=why)
    grants = trim(grants, fund_free + max(0, taken - need), s.min_change_bytes)
    funded = "from free memory above the aim" if not extra else "paid for by reclaiming idle memory"
    apply_starved(work, grants, funded)
