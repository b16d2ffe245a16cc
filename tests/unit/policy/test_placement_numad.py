"""Worked examples of numad's scoring (numad.c: combined_value_of_weighted_resources,
pick_numa_nodes, manage_loads) as the `numad` policy models it."""

from __future__ import annotations

from dataclasses import replace

from numaplane.common.units import GiB
from numaplane.controller.policy.placement.numad import NumadPolicy, numad_nodes
from numaplane.controller.policy.placement.numad_scoring import (
    NumadNode,
    magnitude,
    pick_numa_nodes,
)
from numaplane.controller.policy.types import MemoryMove
from tests.support.placement_builders import cluster, host, request, two_nodes, vm

NUMAD = NumadPolicy()
RING = [[10, 16, 16, 22], [16, 10, 22, 16], [16, 22, 10, 16], [22, 16, 16, 10]]


def _distance(a: int, b: int) -> int:
    return RING[a][b]


def test_magnitude_weighs_needed_resources_more_than_excess() -> None:
    # 1024 MiB asked of 6144 free: 1024 x 10 + 5120 x 4; 4 CPUs asked of 8 idle:
    # 400 x 6 + 400 x 1.
    assert magnitude(1024, 400, 6144, 800) == (10240 + 20480) * (2400 + 400)
    # Short of memory: only what is there counts, all of it as needed.
    assert magnitude(8192, 400, 6144, 800) == (6144 * 10) * 2800


def test_advice_avoids_the_busy_node() -> None:
    nodes = [
        NumadNode(0, 6144, 5120, 800, 100),  # 7 of 8 CPUs busy
        NumadNode(1, 6144, 5120, 800, 800),
    ]
    assert pick_numa_nodes(nodes, lambda a, b: 10 if a == b else 21, 400, 1024) == (1,)


def test_a_request_larger_than_a_node_takes_the_nearest_neighbour() -> None:
    nodes = [NumadNode(i, 16384, 16384, 800, 800) for i in range(4)]
    advice = pick_numa_nodes(nodes, _distance, 800, 24 * 1024)
    assert advice is not None and len(advice) == 2
    assert _distance(*advice) == 16  # neighbours on the ring, never opposite (22)


def test_place_binds_strictly_to_the_advised_nodes() -> None:
    h = host(
        "h",
        two_nodes(free_gib=[5, 6]),
        vms=[vm("busy", "h", vcpus=6, memory_by_node={0: 1}, cpu_nodes=[0])],
    )
    d = NUMAD.place(request(vcpus=4, memory_gib=1), cluster(h))
    assert d.placement is not None
    assert d.placement.nodes == (1,)
    assert d.placement.bind_memory is True
    assert d.placement.memory_by_node == {1: 1 * GiB}


def test_idle_cpu_is_inferred_from_where_vcpus_run() -> None:
    h = host(
        "h",
        two_nodes(),
        vms=[vm("a", "h", vcpus=4, memory_by_node={0: 1}, cpu_nodes=[0, 1], bound=False)],
    )
    nodes = numad_nodes(h)
    assert [n.cpus_free for n in nodes] == [600, 600]
    assert [n.mbs_total for n in nodes] == [6144, 6144]


def test_plan_moves_one_spread_vm_per_host_to_one_node() -> None:
    spread = [
        vm(f"s{i}", "h", vcpus=2, memory_by_node={0: 0.5, 1: 0.5}, cpu_nodes=[0, 1], bound=False)
        for i in range(2)
    ]
    c = cluster(host("h", two_nodes(free_gib=[5, 5]), vms=spread), now=1000.0)
    actions = NUMAD.plan(c)
    assert len(actions) == 1
    move = actions[0]
    assert isinstance(move, MemoryMove)
    assert move.host == "h" and len(move.to_nodes) == 1
    assert move.bytes_to_move == GiB // 2


def test_recently_bound_vms_are_not_reevaluated_and_local_ones_stay() -> None:
    recent = vm("r", "h", vcpus=2, memory_by_node={0: 0.5, 1: 0.5}, cpu_nodes=[0])
    local = vm("l", "h", vcpus=2, memory_by_node={1: 1}, cpu_nodes=[1])
    c = cluster(
        host("h", two_nodes(free_gib=[5, 5]), vms=[recent, local]),
        now=1000.0,
        last_moved={"r": 900.0, "l": 0.0},
    )
    assert NUMAD.plan(c) == ()


def test_small_vms_are_not_managed() -> None:
    tiny = vm("t", "h", vcpus=2, memory_by_node={0: 0.1, 1: 0.1}, cpu_nodes=[0, 1], bound=False)
    assert NUMAD.plan(cluster(host("h", two_nodes(), vms=[tiny]))) == ()


def test_numad_cannot_move_a_vm_the_toolstack_confined_to_its_nodes() -> None:
    """A VM whose nodes the operator fixed runs in libvirt's cpuset; migrate_pages(2) and
    sched_setaffinity(2) refuse nodes outside it, so numad moves the next candidate."""
    pinned = replace(
        vm("p", "h", vcpus=4, memory_by_node={0: 1, 1: 1}, cpu_nodes=[0, 1], bound=False),
        pinned_host=True,
        pinned_nodes=True,
    )
    other = vm("o", "h", vcpus=2, memory_by_node={0: 0.5, 1: 0.5}, cpu_nodes=[0, 1], bound=False)
    c = cluster(host("h", two_nodes(free_gib=[5, 5]), vms=[pinned, other]), now=1000.0)
    [move] = NUMAD.plan(c)
    assert move.vm == "o"
    alone = cluster(host("h", two_nodes(free_gib=[5, 5]), vms=[pinned]), now=1000.0)
    assert NUMAD.plan(alone) == ()
    unpinned = replace(pinned, pinned_host=False, pinned_nodes=False)
    [move] = NUMAD.plan(cluster(host("h", two_nodes(free_gib=[5, 5]), vms=[unpinned]), now=1000.0))
    assert move.vm == "p"
