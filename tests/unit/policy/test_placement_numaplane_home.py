"""numaplane's vCPU home (numaplane.controller.policy.placement.vcpu_home): a VM spread over
more nodes than it has vCPUs runs on the node(s) with the most room, and its memory is
claimed there first."""

from __future__ import annotations

from numaplane.common.units import GiB
from numaplane.controller.policy.placement import NumaplanePlacement
from numaplane.controller.policy.placement.vcpu_home import split_home_first
from tests.support.placement_builders import cluster, host, request, snc4, two_nodes

NUMAPLANE = NumaplanePlacement()


def test_a_one_vcpu_vm_over_two_nodes_runs_where_most_of_its_memory_is() -> None:
    # 2.5G fits on no single node (1G and 2G free): both nodes, vCPU on node 1.
    h = host("h", two_nodes(8, 16, free_gib=[1, 2]))
    d = NUMAPLANE.place(request(vcpus=1, memory_gib=2.5), cluster(h))
    assert d.placement is not None
    assert d.placement.nodes == (0, 1)
    assert d.placement.cpus == tuple(range(8, 16))  # node 1's CPUs only
    assert d.placement.memory_by_node == {1: 2 * GiB, 0: GiB // 2}


def test_enough_vcpus_keep_every_node_and_the_proportional_split() -> None:
    # The worked example of test_placement_numaplane: 8 vCPUs over nodes 2 and 3.
    d = NUMAPLANE.place(request(vcpus=8, memory_gib=24),
                        cluster(host("h", snc4(free_gib=[16, 4, 16, 16]))))
    assert d.placement is not None
    assert d.placement.memory_by_node == {2: 12 * GiB, 3: 12 * GiB}
    assert set(d.placement.cpus) == set(range(16, 32))


def test_the_rest_goes_to_the_nearest_nodes_first() -> None:
    distance = {(a, b): 10 if a == b else (11 if a // 2 == b // 2 else 21)
                for a in range(4) for b in range(4)}
    room = {0: 2 * GiB, 1: GiB, 2: GiB, 3: GiB}
    claims = split_home_first(
        4 * GiB, (0, 1, 2, 3), (0,), room, lambda a, b: distance[(a, b)]
    )
    # Home node 0 full, then its sibling 1, then the far socket by room.
    assert claims == {0: 2 * GiB, 1: GiB, 2: GiB // 2, 3: GiB // 2}
    assert split_home_first(8 * GiB, (0, 1), (0,), room) is None
