"""Growing balloons back: the starved first, and everyone once the pressure has passed.

Starved VMs (the guest reports less usable memory, MemAvailable, than its headroom) grow
in every state but critical, also under pressure and in the hysteresis band: by at most
a step, up to twice their headroom of usable memory, paid for by free memory above the
aim and otherwise by reclaiming the same amount from the others' idle memory (the idle
tax moves memory from idle VMs to active ones, as ESX's does). Under critical pressure
nothing grows.

Give-back (free memory above the relief line): every VM below its ceiling may grow by a
step, the most starved for its shares (highest rho) first, while the host stays above
the relief line and no node goes below the aim — so a give-back can never start the
next period's reclaim (no oscillation).
"""

from __future__ import annotations

from numaplane.controller.policy.balloon.share_out import align_down
from numaplane.controller.policy.balloon.work import ALIGN, HostWork, pct, size


def growth_order(work: HostWork, names: list[str]) -> list[str]:
    return sorted(names, key=lambda n: (not work.terms[n].starved, -work.terms[n].rho, n))


def starved(work: HostWork) -> list[str]:
    return growth_order(
        work,
        [n for n, t in work.items() if t.starved and work.grow_room(n) >= work.s.min_change_bytes],
    )


def plan_starved(work: HostWork, names: list[str], budget: int) -> dict[str, int]:
    """How much each starved VM gets out of `budget`, most starved first.

    A node the VM's memory sits on may go below the pressure line for it (starvation
    beats pressure: the next period's node pass takes the difference from idle VMs
    there) but never below the critical line.
    """
    node_room = {
        n: work.node_free[n] - int(work.s.critical_free_fraction * total)
        for n, total in work.node_total.items()
    }
    grants: dict[str, int] = {}
    for name in names:
        t = work.terms[name]
        cap = min(work.grow_room(name), 2 * t.headroom - t.idle, budget)
        shares = {n: t.vm.node_share(n) for n in node_room}
        for n, p in shares.items():
            if p > 0:
                cap = min(cap, int(node_room[n] / p))
        want = align_down(cap, ALIGN)
        if want >= work.s.min_change_bytes:
            grants[name] = want
            budget -= want
            for n, p in shares.items():
                node_room[n] -= int(want * p)
    return grants


def trim(grants: dict[str, int], budget: int, minimum: int) -> dict[str, int]:
    """Cut grants (the least starved last in order first) to `budget`; drop crumbs."""
    out = dict(grants)
    excess = sum(out.values()) - budget
    for name in reversed(list(out)):
        if excess <= 0:
            break
        cut = min(excess, out[name])
        out[name] -= cut
        excess -= cut
    return {n: g for n, g in out.items() if g >= minimum}


def apply_starved(work: HostWork, grants: dict[str, int], funded_by: str) -> None:
    for rank, (name, grant) in enumerate(grants.items(), 1):
        t = work.terms[name]
        work.move(
            name,
            work.targets[name] + grant,
            f"starved: the guest has {size(t.idle)} usable (< headroom {size(t.headroom)}): "
            f"+{size(grant)}, {funded_by} (rank {rank} by shares per adjusted byte)",
        )


def give_back(work: HostWork) -> None:
    """Deflate while free memory stays above the relief line and every node above the aim."""
    line = int(work.s.relief_free_fraction * work.total)
    names = [n for n, _ in work.items() if work.grow_room(n) >= work.s.min_change_bytes]
    for rank, name in enumerate(growth_order(work, names), 1):
        budget = work.free - line
        vm = work.terms[name].vm
        for node, total in work.node_total.items():
            p = vm.node_share(node)
            if p > 0:
                above_aim = work.node_free[node] - work.s.aim_free_fraction * total
                budget = min(budget, int(above_aim / p))
        grant = align_down(min(work.grow_room(name), budget), ALIGN)
        if grant < work.s.min_change_bytes:
            continue
        before = pct(work.fraction())
        work.move(
            name,
            work.targets[name] + grant,
            f"host free {before} > relief {pct(work.s.relief_free_fraction)}: +{size(grant)} "
            f"(give-back rank {rank}, most starved for its shares first)",
        )
