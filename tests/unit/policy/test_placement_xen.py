"""Worked examples of Xen libxl's automatic NUMA placement (docs/misc/xl-numa-placement,
libxl_numa.c, libxl_dom.c): candidates of increasing size, stop at the first size with a
valid candidate, fewer vCPUs already there, then more free memory."""

from __future__ import annotations

from numaplane.common.units import GiB
from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.xen import (
    XenPlacement,
    libxl_first_size,
    libxl_vcpus_on_node,
)
from tests.support.placement_builders import cluster, host, request, topology, two_nodes, vm

XEN = XenPlacement()


def test_empty_two_node_host_first_candidate_of_the_smallest_size_wins() -> None:
    # Both single nodes are valid and tie on vCPUs and free memory: libxl keeps the first
    # one met in lexicographic order.
    d = XEN.place(request(vcpus=4, memory_gib=1), cluster(host("h", two_nodes())))
    assert d.placement is not None
    assert d.placement.nodes == (0,)
    assert d.placement.cpus == tuple(range(8))


def test_fewer_vcpus_already_on_the_node_wins_over_more_free_memory() -> None:
    # Node 0 has more free memory but a 4-vCPU domain runs there; node 1 has none.
    h = host(
        "h",
        two_nodes(free_gib=[5, 4]),
        vms=[vm("old", "h", vcpus=4, memory_by_node={0: 1}, cpu_nodes=[0])],
    )
    d = XEN.place(request(vcpus=4, memory_gib=1), cluster(h))
    assert d.placement is not None and d.placement.nodes == (1,)


def test_equal_vcpus_then_more_free_memory_wins() -> None:
    h = host(
        "h",
        two_nodes(free_gib=[3, 5]),
        vms=[
            vm("a", "h", vcpus=2, memory_by_node={0: 1}, cpu_nodes=[0]),
            vm("b", "h", vcpus=2, memory_by_node={1: 1}, cpu_nodes=[1]),
        ],
    )
    d = XEN.place(request(vcpus=2, memory_gib=1), cluster(h))
    assert d.placement is not None and d.placement.nodes == (1,)


def test_stops_at_the_first_size_with_a_candidate_even_if_it_is_loaded() -> None:
    # Only node 0 can hold 2 GiB; it is busy, but a one-node candidate exists, so no
    # two-node set is even looked at.
    h = host(
        "h",
        two_nodes(free_gib=[3, 1]),
        vms=[vm("busy", "h", vcpus=8, memory_by_node={0: 3}, cpu_nodes=[0])],
    )
    d = XEN.place(request(vcpus=4, memory_gib=2), cluster(h))
    assert d.placement is not None and d.placement.nodes == (0,)
    assert all(len(c.nodes) == 1 for c in d.considered if c.host == "h")


def test_a_vm_larger_than_any_node_gets_the_smallest_set_that_holds_it() -> None:
    d = XEN.place(request(vcpus=4, memory_gib=8), cluster(host("h", two_nodes())))
    assert d.placement is not None
    assert d.placement.nodes == (0, 1)
    # Xen's allocator cycles over the node-affinity: memory split evenly.
    assert d.placement.memory_by_node == {0: 4 * GiB, 1: 4 * GiB}


def test_search_starts_at_vcpus_over_cpus_per_node_when_nodes_are_uniform() -> None:
    state = HostState.of(host("h", two_nodes()), use_claims=False)
    assert libxl_first_size(state.nodes, 12) == 2
    assert libxl_first_size(state.nodes, 8) == 1
    d = XEN.place(request(vcpus=12, memory_gib=1), cluster(host("h", two_nodes())))
    assert d.placement is not None and d.placement.nodes == (0, 1)


def test_candidates_need_at_least_as_many_cpus_as_vcpus() -> None:
    # Non-uniform nodes: the search starts at size 1, and only node 1 has 6 CPUs.
    topo = topology([4, 8], [8, 8], [[10, 21], [21, 10]])
    d = XEN.place(request(vcpus=6, memory_gib=1), cluster(host("h", topo)))
    assert d.placement is not None and d.placement.nodes == (1,)


def test_four_nodes_pairs_compared_by_vcpus_then_free_memory() -> None:
    # 4 nodes of 4 CPUs; a 6-vCPU VM needs two nodes. Nodes 0 and 1 carry vCPUs, so the
    # pair (2, 3) wins; with equal counts the pair with more free memory would.
    topo = topology(
        [4] * 4,
        [8] * 4,
        [[10, 20, 20, 20], [20, 10, 20, 20], [20, 20, 10, 20], [20, 20, 20, 10]],
        free_gib=[8, 8, 6, 7],
    )
    h = host(
        "h",
        topo,
        vms=[
            vm("a", "h", vcpus=2, memory_by_node={0: 0.5}, cpu_nodes=[0]),
            vm("b", "h", vcpus=2, memory_by_node={1: 0.5}, cpu_nodes=[1]),
        ],
    )
    d = XEN.place(request(vcpus=6, memory_gib=2), cluster(h))
    assert d.placement is not None and d.placement.nodes == (2, 3)
    best = next(c for c in d.considered if c.rejected is None)
    assert best.nodes == (2, 3) and best.score == 0.0


def test_vcpu_count_is_raw_once_per_node_of_affinity_and_node_affinity() -> None:
    # An unbound 4-vCPU domain counts 4 on every node; a domain bound to {0, 1} counts on
    # both; nothing is divided per CPU.
    h = host(
        "h",
        topology([8] * 3, [8] * 3, [[10, 20, 20], [20, 10, 20], [20, 20, 10]]),
        vms=[
            vm("free", "h", vcpus=4, memory_by_node={0: 1}, cpu_nodes=[0, 1, 2], bound=False),
            vm("pair", "h", vcpus=2, memory_by_node={0: 1}, cpu_nodes=[0, 1]),
        ],
    )
    assert libxl_vcpus_on_node(h) == {0: 6, 1: 6, 2: 4}


def test_no_candidate_means_no_placement_and_affinity_to_all_nodes() -> None:
    # Node 1 is a CPU-less memory node: the host has room in total (first fit takes it),
    # but libxl only builds candidates from nodes with CPUs, and node 0 alone is too
    # small. libxl gives up and the domain keeps affinity to every node.
    topo = topology([8, 0], [2, 8], [[10, 21], [21, 10]])
    d = XEN.place(request(vcpus=4, memory_gib=4), cluster(host("h", topo)))
    assert d.placement is not None
    assert d.placement.nodes == (0, 1)
    assert d.placement.memory_by_node == {} and d.placement.bind_memory is False
    assert any("libxl does not place" in r for r in d.reasons)


def test_the_first_host_with_room_is_used_even_if_a_later_one_is_emptier() -> None:
    small = host("small", topology([2, 2], [6, 6], [[10, 21], [21, 10]]))
    d = XEN.place(request(vcpus=8, memory_gib=4), cluster(small, host("big", two_nodes())))
    # "small" has 4 CPUs for 8 vCPUs: the first host with room is "big".
    assert d.placement is not None and d.placement.host == "big"
    d = XEN.place(request(vcpus=2, memory_gib=4), cluster(small, host("big", two_nodes())))
    assert d.placement is not None and d.placement.host == "small"


def test_single_node_host_is_not_placed() -> None:
    topo = topology([8], [16], [[10]])
    d = XEN.place(request(vcpus=2, memory_gib=1), cluster(host("h", topo)))
    assert d.placement is not None
    assert d.placement.memory_by_node == {} and not d.placement.bind_memory
    assert any("single-node" in r for r in d.reasons)


def test_soft_affinity_memory_may_spill() -> None:
    d = XEN.place(request(vcpus=2, memory_gib=1), cluster(host("h", two_nodes())))
    assert d.placement is not None and d.placement.bind_memory is False


def test_host_is_first_fit_and_claims_are_not_seen() -> None:
    # "a" has a claim that fills it; a toolstack without reservations does not see it.
    a = host("a", two_nodes(), claims_gib={0: 6, 1: 6})
    b = host("b", two_nodes())
    d = XEN.place(request(vcpus=2, memory_gib=1), cluster(a, b))
    assert XEN.uses_claims is False
    assert d.placement is not None and d.placement.host == "a"


def test_cordoned_hosts_are_skipped_and_nothing_fits_is_none() -> None:
    a = host("a", two_nodes(), schedulable=False, state="cordoned")
    d = XEN.place(request(vcpus=2, memory_gib=1), cluster(a, host("b", two_nodes())))
    assert d.placement is not None and d.placement.host == "b"
    d = XEN.place(request(vcpus=2, memory_gib=50), cluster(a, host("b", two_nodes())))
    assert d.placement is None
    assert any(c.rejected and "cordoned" in c.rejected for c in d.considered)
