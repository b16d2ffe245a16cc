"""Small balloon-policy inputs for tests, and a toy host that applies decisions.

`apply` is the smallest model of what happens once targets are reached: each balloon's
actual size becomes its target, its host memory changes on each node in proportion to
where the VM's memory sits, and the guest's available memory shrinks first (what a
balloon takes comes out of idle memory; past that the guest swaps) or grows by what it
is given. It lets property tests run the policy on its own output.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from hypothesis import strategies as st

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.balloon import (
    BalloonDecision,
    BalloonHost,
    BalloonSettings,
    BalloonVm,
    GuestStats,
    NodeState,
)


def vm(
    name: str,
    size: int,
    *,
    usable: int | None = None,
    node: int | Mapping[int, int] = 0,
    reservation: int = 0,
    limit: int | None = None,
    shares: int = 1000,
    max_bytes: int | None = None,
    auto: bool = True,
    target: int | None = None,
) -> BalloonVm:
    """A VM whose guest has `size` bytes (all backed), on one node or split as given."""
    by_node = {node: size} if isinstance(node, int) else dict(node)
    return BalloonVm(
        name=name,
        max_bytes=max_bytes if max_bytes is not None else max(size, 8 * GiB),
        target_bytes=size if target is None else target,
        actual_bytes=size,
        memory_by_node=by_node,
        reservation_bytes=reservation,
        limit_bytes=limit,
        shares=shares,
        auto=auto,
        guest=None if usable is None else GuestStats(free_bytes=0, usable_bytes=usable),
    )


def host(free: Mapping[int, int], vms: Iterable[BalloonVm], *, node_total: int = 32 * GiB,
         name: str = "h") -> BalloonHost:
    nodes = tuple(NodeState(n, node_total, f) for n, f in sorted(free.items()))
    return BalloonHost(name, nodes, tuple(vms))


def apply(h: BalloonHost, decisions: Iterable[BalloonDecision]) -> BalloonHost:
    """The host after every balloon reached its new target."""
    by_vm = {d.vm: d.target_bytes for d in decisions}
    free = {n.node: n.free_bytes for n in h.nodes}
    vms = []
    for v in h.vms:
        new = by_vm.get(v.name, v.target_bytes)
        delta = new - v.actual_bytes
        total = sum(v.memory_by_node.values())
        by_node = dict(v.memory_by_node)
        for node, b in v.memory_by_node.items():
            part = round(delta * b / total) if total else 0
            free[node] -= part
            by_node[node] = b + part
        guest = v.guest
        if guest is not None:
            guest = replace(guest, usable_bytes=max(0, guest.usable_bytes + delta))
        vms.append(replace(v, target_bytes=new, actual_bytes=new, memory_by_node=by_node,
                           guest=guest))
    nodes = tuple(replace(n, free_bytes=free[n.node]) for n in h.nodes)
    return replace(h, nodes=nodes, vms=tuple(vms))


# -- hypothesis strategies -----------------------------------------------------------

mib = st.integers(min_value=1, max_value=16 * 1024).map(lambda n: n * MiB)


@st.composite
def settings(draw: st.DrawFn) -> BalloonSettings:
    critical = draw(st.sampled_from([0.0, 0.03, 0.05, 0.1]))
    pressure = critical + draw(st.sampled_from([0.05, 0.1, 0.15, 0.2]))
    relief = pressure + draw(st.sampled_from([0.02, 0.05, 0.1, 0.2]))
    step = draw(st.sampled_from([128, 256, 512, 1024, 4096])) * MiB
    return BalloonSettings(
        pressure_free_fraction=pressure,
        critical_free_fraction=critical,
        relief_free_fraction=relief,
        max_step_bytes=step,
        min_change_bytes=draw(st.sampled_from([1, 16, 64, 128])) * MiB,
        idle_tax=draw(st.sampled_from([0.0, 0.5, 0.75, 0.9])),
        guest_headroom_fraction=draw(st.sampled_from([0.0, 0.05, 0.1])),
    )


@st.composite
def hosts(draw: st.DrawFn, *, steady: bool = False) -> BalloonHost:
    """A host of 1-3 nodes and 0-8 VMs; `steady`: every balloon at its target."""
    n_nodes = draw(st.integers(1, 3))
    node_total = draw(st.integers(4, 64)) * GiB
    used = dict.fromkeys(range(n_nodes), 0)
    vms = []
    for i in range(draw(st.integers(0, 8))):
        max_bytes = draw(st.integers(1, 16)) * GiB
        reservation = draw(st.integers(0, max_bytes // MiB)) * MiB
        limit = draw(st.one_of(st.none(), st.integers(0, max_bytes // MiB).map(lambda n: n * MiB)))
        target = draw(st.integers(1, max_bytes // MiB)) * MiB
        actual = target if steady else draw(st.integers(1, max_bytes // MiB)) * MiB
        nodes = draw(st.lists(st.integers(0, n_nodes - 1), min_size=1, max_size=n_nodes,
                              unique=True))
        by_node = {n: actual // len(nodes) for n in nodes}
        for n, b in by_node.items():
            used[n] += b
        stats = draw(st.booleans())
        guest = (
            GuestStats(free_bytes=0, usable_bytes=draw(st.integers(0, actual // MiB)) * MiB)
            if stats else None
        )
        vms.append(
            BalloonVm(
                name=f"vm{i}",
                max_bytes=max_bytes,
                target_bytes=target,
                actual_bytes=actual,
                memory_by_node=by_node,
                reservation_bytes=reservation,
                limit_bytes=limit,
                shares=draw(st.sampled_from([1, 500, 1000, 2000, 4000])),
                auto=draw(st.booleans()) or draw(st.booleans()),
                guest=guest,
            )
        )
    states = []
    for n in range(n_nodes):
        total = max(node_total, used[n])
        free = draw(st.integers(0, (total - used[n]) // MiB)) * MiB
        states.append(NodeState(n, total, free))
    return BalloonHost("h", tuple(states), tuple(vms))
