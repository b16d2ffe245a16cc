"""Reclaim: inflate balloons until free memory is back at the aim, first on short nodes.

Node pass (numaplane's addition; MOM and ESX look at the host as a whole): a NUMA node
below the pressure line while others are not is relieved first, from the VMs whose
memory sits on it. A VM with a share p of its memory on the node frees p of every byte
its balloon takes, so it is asked in proportion to weight * p (a VM all on the node
gives more than one mostly elsewhere), until the node is back at the aim in bytes freed
on the node. Nodes are taken most-short first.

Host pass: what the host still needs (plus whatever starved VMs are to be given, see
`grow`) is shared among the VMs in proportion to their reclaim weight (the idle memory
tax, `vm_terms`), each within its room: down to its soft floor (active + headroom) under
normal pressure, its reservation under critical pressure, and at most one step per
period. Shares below `min_change_bytes` are not made (`share_out`).
"""

from __future__ import annotations

from collections.abc import Collection

from numaplane.controller.policy.balloon.share_out import share_out
from numaplane.controller.policy.balloon.work import ALIGN, HostWork, pct, size


def short_nodes(work: HostWork) -> list[int]:
    """Nodes below the pressure line while some other node is not, most short first.

    When every node is short the host is too, and the host pass decides (a node pass
    would only repeat it without the idle tax's view of the whole host).
    """
    line = work.s.pressure_free_fraction
    nodes = [n for n, t in work.node_total.items() if t > 0]
    short = [n for n in nodes if work.node_fraction(n) < line]
    if len(short) == len(nodes):
        return []
    return sorted(short, key=lambda n: (work.node_fraction(n), n))


def node_pass(work: HostWork, node: int, *, critical: bool) -> int:
    """Relieve one short node; returns the bytes its balloons were asked to free on it."""
    total = work.node_total[node]
    need = int(work.s.aim_free_fraction * total) - work.node_free[node]
    if need <= 0:
        return 0
    weights: dict[str, float] = {}
    caps: dict[str, int] = {}
    minimum: dict[str, int] = {}
    for name, t in work.items():
        p = t.vm.node_share(node)
        room = work.reclaim_room(name, critical)
        if p <= 0 or room <= 0:
            continue
        # In bytes freed on the node, so that the VM's own reclaim is ~ weight * p.
        weights[name] = t.weight * p * p
        caps[name] = int(room * p)
        minimum[name] = max(1, int(work.s.min_change_bytes * p))
    freed = share_out(need, weights, caps, minimum)
    before = pct(work.node_fraction(node))
    done = 0
    for name, on_node in freed.items():
        p = work.terms[name].vm.node_share(node)
        take = min(int(on_node / p) // ALIGN * ALIGN, work.reclaim_room(name, critical))
        if take < work.s.min_change_bytes:
            continue
        work.move(
            name,
            work.targets[name] - take,
            f"node {node} free {before} < pressure {pct(work.s.pressure_free_fraction)}: "
            f"-{size(take)} from this VM, {pct(p)} of whose memory is on node {node}",
        )
        done += int(take * p)
    return done


def host_pass(work: HostWork, need: int, *, critical: bool, exclude: Collection[str] = (),
              why: str) -> int:
    """Share `need` bytes of reclaim among the VMs by the idle tax; returns bytes taken."""
    if need <= 0:
        return 0
    weights: dict[str, float] = {}
    caps: dict[str, int] = {}
    minimum: dict[str, int] = {}
    for name, t in work.items():
        if name in exclude:
            continue
        room = work.reclaim_room(name, critical)
        if room > 0:
            weights[name] = t.weight
            caps[name] = room
            minimum[name] = work.s.min_change_bytes
    parts = share_out(need, weights, caps, minimum, align=ALIGN)
    total_weight = sum(weights.values()) or 1.0
    floor = "its reservation" if critical else "its active memory + headroom"
    taken = 0
    for name, take in parts.items():
        t = work.terms[name]
        limited = ""
        if take == work.step_left(name, critical):
            limited = " (one step)"
        elif take == caps[name]:
            limited = f" (down to {floor})"
        work.move(
            name,
            work.targets[name] - take,
            f"{why}: -{size(take)}{limited}; idle tax: idle {size(t.idle)}, active "
            f"{size(t.active)}, shares {t.vm.shares} -> {pct(t.weight / total_weight)} of "
            "the reclaim weight",
        )
        taken += take
    return taken


def reclaim_capacity(work: HostWork, *, exclude: Collection[str]) -> int:
    """What a host pass could take at most right now (normal pressure)."""
    rooms = (work.reclaim_room(name, False) for name, _ in work.items() if name not in exclude)
    return sum(room for room in rooms if room >= work.s.min_change_bytes)
