"""Worked examples of the `numaplane` placement policy: host and nodes chosen together."""

from __future__ import annotations

from numaplane.common.units import GiB
from numaplane.controller.policy.placement.cluster_choice import NumaplanePlacement
from numaplane.controller.policy.placement.settings import NumaplaneSettings
from numaplane.controller.policy.types import PlacementDecision
from tests.support.placement_builders import (
    cluster,
    epyc8,
    host,
    request,
    snc4,
    socket_distances,
    topology,
    two_nodes,
    vm,
)

NUMAPLANE = NumaplanePlacement()


def _placed(d: PlacementDecision) -> tuple[str, tuple[int, ...]]:
    assert d.placement is not None, d.reasons
    return d.placement.host, d.placement.nodes


def test_a_vm_that_fits_one_node_gets_one_node_bound_and_claimed() -> None:
    d = NUMAPLANE.place(request(vcpus=4, memory_gib=2), cluster(host("h", two_nodes())))
    assert _placed(d) == ("h", (0,))
    assert d.placement is not None
    assert d.placement.bind_memory is True
    assert d.placement.memory_by_node == {0: 2 * GiB}
    assert d.placement.cpus == tuple(range(8))
    assert d.considered[0].host == "h" and d.considered[0].nodes == (0,)
    assert d.considered[0].score is not None


def test_one_node_on_any_host_beats_two_nodes_anywhere() -> None:
    # Host "a" would need both nodes for 5 GiB; host "b" has a node that holds it.
    a = host("a", two_nodes(free_gib=[3, 3]))
    b = host("b", two_nodes(free_gib=[6, 1]))
    assert _placed(NUMAPLANE.place(request(vcpus=2, memory_gib=5), cluster(a, b))) == ("b", (0,))


def test_snc_nearest_pair_with_room_not_the_lowest_ids() -> None:
    # SNC 10/11/21: node 1 is nearly full, so the siblings (0, 1) cannot hold 24 GiB;
    # the siblings (2, 3) can, and beat (0, 2) or (0, 3), which cross the socket.
    d = NUMAPLANE.place(
        request(vcpus=8, memory_gib=24), cluster(host("h", snc4(free_gib=[16, 4, 16, 16])))
    )
    assert _placed(d) == ("h", (2, 3))
    assert d.placement is not None
    assert d.placement.memory_by_node == {2: 12 * GiB, 3: 12 * GiB}
    assert any("diameter 11" in r for r in d.reasons)


def test_snc_pair_on_the_same_socket_when_all_are_free() -> None:
    d = NUMAPLANE.place(request(vcpus=8, memory_gib=20), cluster(host("h", snc4())))
    assert _placed(d) in {("h", (0, 1)), ("h", (2, 3))}


def test_epyc_three_nodes_within_one_socket() -> None:
    # EPYC NPS4 10/12/32, 16 GiB nodes: 40 GiB needs three nodes. Socket 0 has only
    # 16 + 16 + 4 free in its best three, so the set comes from socket 1 (diameter 12)
    # rather than mixing sockets (diameter 32).
    free = [16, 16, 4, 4, 16, 16, 16, 16]
    d = NUMAPLANE.place(request(vcpus=12, memory_gib=40), cluster(host("h", epyc8(free_gib=free))))
    _, nodes = _placed(d)
    assert len(nodes) == 3 and set(nodes) <= {4, 5, 6, 7}


def test_sixteen_node_host_eight_node_vm_takes_two_whole_sockets() -> None:
    topo = topology([8] * 16, [16] * 16, socket_distances(4, 4, 12, 32))
    d = NUMAPLANE.place(request(vcpus=64, memory_gib=120), cluster(host("big", topo)))
    _, nodes = _placed(d)
    assert len(nodes) == 8
    sockets = {n // 4 for n in nodes}
    assert len(sockets) == 2  # two whole sockets: the tightest 8-node sets


def test_best_fit_keeps_the_large_free_block_whole() -> None:
    # Equal CPU load; node 0 has 10 GiB free, node 1 has 4 GiB: a 3 GiB VM goes to node 1,
    # leaving the 10 GiB block for a VM that needs it.
    d = NUMAPLANE.place(
        request(vcpus=2, memory_gib=3), cluster(host("h", two_nodes(16, 16, free_gib=[10, 4])))
    )
    assert _placed(d) == ("h", (1,))


def test_prefers_a_host_in_use_over_an_idle_one_on_equal_fit() -> None:
    # The VM on "used" sits on its node 0; its node 1 and idle's nodes are equally free
    # and equally loaded (none), so only the idle-host penalty tells them apart.
    used = host(
        "used",
        two_nodes(free_gib=[5, 5]),
        vms=[vm("x", "used", vcpus=1, memory_by_node={0: 1}, cpu_nodes=[0])],
    )
    idle = host("idle", two_nodes(free_gib=[5, 5]))
    assert _placed(NUMAPLANE.place(request(vcpus=1, memory_gib=1), cluster(idle, used)))[0] == (
        "used"
    )


def test_cpu_load_beats_best_fit() -> None:
    # Node 1 fits memory better but already runs 8 vCPUs on its 8 CPUs.
    h = host(
        "h",
        two_nodes(16, 16, free_gib=[12, 5]),
        vms=[vm("busy", "h", vcpus=8, memory_by_node={1: 4}, cpu_nodes=[1])],
    )
    assert _placed(NUMAPLANE.place(request(vcpus=4, memory_gib=3), cluster(h))) == ("h", (0,))


def test_claims_in_flight_are_counted() -> None:
    # Node 0 shows 6 GiB free but 5 GiB of it is claimed by a VM being started.
    h = host("h", two_nodes(free_gib=[6, 3]), claims_gib={0: 5})
    d = NUMAPLANE.place(request(vcpus=2, memory_gib=2), cluster(h))
    assert NUMAPLANE.uses_claims is True
    assert _placed(d) == ("h", (1,))
    assert any("claims in flight counted" in r for r in d.reasons)


def test_a_burst_spreads_because_claimed_vcpus_count_as_load() -> None:
    # Four identical requests, each seeing the claims of the ones before it.
    claims: dict[int, float] = {}
    chosen = []
    for i in range(4):
        h = host("h", snc4(memory_gib=8), claims_gib=claims)
        d = NUMAPLANE.place(request(f"b{i}", vcpus=4, memory_gib=1.5), cluster(h))
        _, nodes = _placed(d)
        chosen.append(nodes[0])
        claims[nodes[0]] = claims.get(nodes[0], 0) + 1.5
    assert sorted(chosen) == [0, 1, 2, 3]


def test_anti_affinity_keeps_group_members_apart() -> None:
    a = host(
        "a",
        two_nodes(),
        vms=[vm("web-1", "a", vcpus=1, memory_by_node={0: 1}, cpu_nodes=[0], group="web")],
    )
    b = host("b", two_nodes(free_gib=[1.5, 1.5]))
    r = request("web-2", vcpus=1, memory_gib=1, group="web", affinity="anti-affinity")
    d = NUMAPLANE.place(r, cluster(a, b))
    assert _placed(d)[0] == "b"
    assert any(c.host == "a" and c.rejected and "anti-affinity" in c.rejected for c in d.considered)


def test_affinity_keeps_group_members_together() -> None:
    a = host("a", two_nodes(free_gib=[1.5, 1.5]))
    b = host(
        "b",
        two_nodes(free_gib=[2, 2]),
        vms=[vm("db-1", "b", vcpus=1, memory_by_node={0: 1}, cpu_nodes=[0], group="db")],
    )
    r = request("db-2", vcpus=1, memory_gib=1, group="db", affinity="affinity")
    assert _placed(NUMAPLANE.place(r, cluster(a, b)))[0] == "b"
    # The first member of a group may go anywhere.
    first = request("q-1", vcpus=1, memory_gib=1, group="q", affinity="affinity")
    assert NUMAPLANE.place(first, cluster(a, b)).placement is not None


def test_cordoned_host_is_excluded_with_its_reason() -> None:
    a = host("a", two_nodes(), schedulable=False, state="cordoned")
    b = host("b", two_nodes(free_gib=[2, 2]))
    d = NUMAPLANE.place(request(vcpus=1, memory_gib=1), cluster(a, b))
    assert _placed(d)[0] == "b"
    rejected = [c for c in d.considered if c.host == "a"]
    assert rejected and rejected[0].rejected == "not schedulable (state cordoned)"


def test_pinned_host_and_nodes_are_honoured() -> None:
    a = host("a", two_nodes())
    b = host("b", two_nodes(free_gib=[2, 6]))
    d = NUMAPLANE.place(request(vcpus=1, memory_gib=1, host="b"), cluster(a, b))
    assert _placed(d)[0] == "b"
    d = NUMAPLANE.place(request(vcpus=1, memory_gib=1, host="b", nodes=(0,)), cluster(a, b))
    assert _placed(d) == ("b", (0,))


def test_unknown_pinned_host_is_refused_with_the_reason() -> None:
    d = NUMAPLANE.place(
        request(vcpus=1, memory_gib=1, host="nope"), cluster(host("a", two_nodes()))
    )
    assert d.placement is None
    assert d.reasons == ("requested host nope is not in the cluster",)


def test_does_not_fit_anywhere_gives_none_with_reasons() -> None:
    a = host("a", two_nodes(free_gib=[1, 1]))
    b = host("b", two_nodes(), schedulable=False, state="draining")
    d = NUMAPLANE.place(request(vcpus=2, memory_gib=4, reservation_bytes=4 * GiB), cluster(a, b))
    assert d.placement is None
    assert d.reasons[0] == "no host can hold 4G and 2 vCPUs"
    assert any("not schedulable" in r for r in d.reasons)
    assert any("no node set holds it" in r for r in d.reasons)
    assert {c.host for c in d.considered} == {"a", "b"}


def test_too_many_vcpus_for_any_host() -> None:
    d = NUMAPLANE.place(request(vcpus=64, memory_gib=1), cluster(host("a", two_nodes())))
    assert d.placement is None
    assert any("16 usable CPUs for 64 vCPUs" in (c.rejected or "") for c in d.considered)


def test_limit_is_what_is_claimed() -> None:
    r = request(vcpus=2, memory_gib=8, limit_bytes=3 * GiB)
    d = NUMAPLANE.place(r, cluster(host("h", two_nodes())))
    assert d.placement is not None and d.placement.memory_by_node == {0: 3 * GiB}


def test_overcommit_places_on_the_reservation_when_nothing_holds_the_target() -> None:
    r = request(vcpus=2, memory_gib=8, reservation_bytes=2 * GiB)
    h = host("h", two_nodes(free_gib=[3, 2.5]))
    d = NUMAPLANE.place(r, cluster(h))
    assert _placed(d) == ("h", (0,))
    assert d.placement is not None and d.placement.memory_by_node == {0: 3 * GiB}
    assert any(reason.startswith("overcommit") for reason in d.reasons)
    strict = NumaplanePlacement(NumaplaneSettings(place_on_reservation=False))
    assert strict.place(r, cluster(h)).placement is None


def test_exclusive_cpus_never_overcommit() -> None:
    # Node 0 has 8 CPUs, 6 of them taken: no room for 4 vCPUs of their own.
    h = host(
        "h",
        two_nodes(8, 16),
        vms=[vm("busy", "h", vcpus=6, memory_by_node={0: 1}, cpu_nodes=[0])],
    )
    exclusive = NumaplanePlacement(NumaplaneSettings(exclusive_cpus=True))
    d = exclusive.place(request(vcpus=4, memory_gib=1, host="h", nodes=(0,)), cluster(h))
    assert d.placement is None
    d = exclusive.place(request(vcpus=4, memory_gib=1), cluster(h))
    assert _placed(d) == ("h", (1,))


def test_considered_stays_bounded_on_a_large_cluster() -> None:
    hosts = [host(f"h{i}", two_nodes()) for i in range(300)]
    hosts += [host(f"c{i}", two_nodes(), schedulable=False, state="cordoned") for i in range(50)]
    d = NUMAPLANE.place(request(vcpus=2, memory_gib=1), cluster(*hosts))
    assert d.placement is not None
    assert len(d.considered) <= 24
    assert any(r.startswith("50 candidate(s) rejected: not schedulable") for r in d.reasons)


def test_deterministic() -> None:
    c = cluster(host("a", snc4()), host("b", epyc8()))
    r = request(vcpus=8, memory_gib=20)
    assert NUMAPLANE.place(r, c) == NUMAPLANE.place(r, c)
