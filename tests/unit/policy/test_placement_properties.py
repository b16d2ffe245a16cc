"""Properties every placement policy keeps, over random clusters and requests (hypothesis).

- only hosts that exist, are schedulable and pass the request's host, nodes and group
  rules are chosen;
- a policy that binds memory never claims more on a node than the node has (after claims
  in flight, for policies that count them), nor more than the VM's memory in all;
- CPUs given are online CPUs of the chosen nodes; with exclusive pinning the chosen nodes
  have at least one CPU per vCPU that no other vCPU uses;
- the same input gives the same decision, from the same or a fresh policy object;
- numad's rebalancing moves at most one VM per host, to nodes of that host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from numaplane.common.topology import NumaNode, Topology
from numaplane.common.units import MiB
from numaplane.controller.policy.placement import PLACEMENT_POLICIES, get_placement_policy
from numaplane.controller.policy.placement.cluster_choice import NumaplanePlacement
from numaplane.controller.policy.placement.constraints import HostFilter
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.placement.host_state import vcpu_load_by_node
from numaplane.controller.policy.placement.numad import NumadPolicy
from numaplane.controller.policy.placement.settings import NumaplaneSettings
from numaplane.controller.policy.types import (
    ClusterView,
    HostView,
    MemoryMove,
    PlacementDecision,
    VmRequest,
    VmView,
)

Draw = Callable[[st.SearchStrategy[Any]], Any]


@st.composite
def topologies(draw: Draw) -> Topology:
    n = draw(st.integers(1, 4))
    cpus = draw(st.lists(st.integers(0, 8), min_size=n, max_size=n))
    if not any(cpus):
        cpus[0] = 2
    mem = draw(st.lists(st.integers(0, 16 * 1024), min_size=n, max_size=n))
    if not any(mem):
        mem[0] = 4096
    nodes, first = [], 0
    for i in range(n):
        free = draw(st.integers(0, mem[i]))
        nodes.append(
            NumaNode(
                id=i,
                cpus=tuple(range(first, first + cpus[i])),
                memory_total_bytes=mem[i] * MiB,
                memory_free_bytes=free * MiB,
            )
        )
        first += cpus[i]
    far = [[draw(st.integers(11, 40)) for _ in range(n)] for _ in range(n)]
    distances = tuple(
        tuple(10 if a == b else far[min(a, b)][max(a, b)] for b in range(n)) for a in range(n)
    )
    return Topology(nodes=tuple(nodes), distances=distances)


@st.composite
def hosts(draw: Draw, name: str) -> HostView:
    topo = draw(topologies())
    ids = topo.node_ids
    vms = []
    for i in range(draw(st.integers(0, 3))):
        cpu_nodes = draw(st.sets(st.sampled_from(ids), min_size=1))
        mem = {n: draw(st.integers(0, 2048)) * MiB for n in cpu_nodes}
        vms.append(
            VmView(
                name=f"{name}-vm{i}",
                host=name,
                vcpus=draw(st.integers(1, 6)),
                memory_bytes=sum(mem.values()),
                memory_by_node=mem,
                cpu_nodes=frozenset(cpu_nodes),
                running_nodes=frozenset(cpu_nodes),
                group=draw(st.sampled_from([None, "g"])),
                bound_nodes=draw(st.sampled_from([None, tuple(sorted(cpu_nodes))])),
            )
        )
    claims = {
        n.id: draw(st.integers(0, n.memory_free_bytes // MiB)) * MiB
        for n in topo.nodes
        if draw(st.booleans())
    }
    schedulable = draw(st.booleans()) or draw(st.booleans())
    return HostView(
        name=name,
        topology=topo,
        schedulable=schedulable,
        state="up" if schedulable else "cordoned",
        vms=tuple(vms),
        claimed_by_node=claims,
    )


@st.composite
def clusters(draw: Draw) -> ClusterView:
    count = draw(st.integers(1, 4))
    return ClusterView(hosts=tuple(draw(hosts(f"h{i}")) for i in range(count)), now=1000.0)


@st.composite
def requests(draw: Draw, cluster: ClusterView) -> VmRequest:
    memory = draw(st.integers(1, 20 * 1024)) * MiB
    limit = draw(st.sampled_from([None, memory, memory // 2 or 1]))
    top = memory if limit is None else limit
    pin = draw(st.sampled_from([None, None, *[h.name for h in cluster.hosts], "elsewhere"]))
    nodes = None
    if pin is not None and (h := cluster.host(pin)) is not None and draw(st.booleans()):
        nodes = tuple(sorted(draw(st.sets(st.sampled_from(h.topology.node_ids), min_size=1))))
    group = draw(st.sampled_from([None, "g"]))
    return VmRequest(
        name="new",
        vcpus=draw(st.integers(1, 12)),
        memory_bytes=memory,
        reservation_bytes=draw(st.integers(0, top)),
        limit_bytes=limit,
        host=pin,
        nodes=nodes,
        group=group,
        affinity=draw(st.sampled_from([None, "affinity", "anti-affinity"])) if group else None,
    )


def _check(policy: Any, request: VmRequest, cluster: ClusterView, d: PlacementDecision) -> None:
    assert d.vm == request.name and d.policy == policy.name
    if d.placement is None:
        assert d.reasons
        return
    p = d.placement
    h = cluster.host(p.host)
    assert h is not None
    assert HostFilter.for_request(request, cluster).rejection(h) is None
    assert set(p.nodes) <= set(h.topology.node_ids) and p.nodes
    if request.nodes is not None:
        assert set(p.nodes) <= set(request.nodes)
    allowed_cpus = {c for n in p.nodes for c in h.topology.node(n).cpus}
    assert p.cpus and set(p.cpus) <= allowed_cpus
    assert set(p.memory_by_node) <= set(p.nodes)
    assert all(b > 0 for b in p.memory_by_node.values())
    demand = MemoryDemand.of(request)
    assert sum(p.memory_by_node.values()) <= demand.target_bytes
    if p.bind_memory:
        for node, b in p.memory_by_node.items():
            room = h.topology.node(node).memory_free_bytes
            if policy.uses_claims:
                room -= h.claimed_by_node.get(node, 0)
            assert b <= room, (node, b, room)
        assert sum(p.memory_by_node.values()) >= demand.floor_bytes


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_every_policy_respects_capacity_rules_and_is_deterministic(data: st.DataObject) -> None:
    cluster = data.draw(clusters())
    request = data.draw(requests(cluster))
    for name in PLACEMENT_POLICIES:
        policy = get_placement_policy(name)
        first = policy.place(request, cluster)
        _check(policy, request, cluster, first)
        assert policy.place(request, cluster) == first
        assert get_placement_policy(name).place(request, cluster) == first


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_numaplane_with_exclusive_cpus_never_overcommits(data: st.DataObject) -> None:
    cluster = data.draw(clusters())
    request = data.draw(requests(cluster))
    policy = NumaplanePlacement(NumaplaneSettings(exclusive_cpus=True))
    d = policy.place(request, cluster)
    _check(policy, request, cluster, d)
    if d.placement is not None:
        h = cluster.host(d.placement.host)
        assert h is not None
        load = vcpu_load_by_node(h)
        idle = sum(
            max(0, len(h.topology.node(n).cpus) - int(-(-load.get(n, 0.0) // 1)))
            for n in d.placement.nodes
        )
        assert request.vcpus <= idle


@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_numaplane_uses_one_node_whenever_some_allowed_node_holds_the_vm(
    data: st.DataObject,
) -> None:
    cluster = data.draw(clusters())
    request = data.draw(requests(cluster))
    rules = HostFilter.for_request(request, cluster)
    target = MemoryDemand.of(request).target_bytes
    holds = any(
        rules.rejection(h) is None
        and any(
            n.cpus
            and n.memory_total_bytes > 0
            and len(n.cpus) >= request.vcpus
            and n.memory_free_bytes - h.claimed_by_node.get(n.id, 0) >= target
            for n in rules.allowed_nodes(h)
        )
        for h in cluster.hosts
    )
    d = NumaplanePlacement().place(request, cluster)
    if holds:
        assert d.placement is not None and len(d.placement.nodes) == 1


@settings(max_examples=100, deadline=None)
@given(cluster=clusters())
def test_numad_moves_at_most_one_vm_per_host_within_it(cluster: ClusterView) -> None:
    actions = NumadPolicy().plan(cluster)
    assert actions == NumadPolicy().plan(cluster)
    per_host = [a.host for a in actions]
    assert len(per_host) == len(set(per_host))
    for a in actions:
        assert isinstance(a, MemoryMove)
        h = cluster.host(a.host)
        assert h is not None
        assert a.vm in {vm.name for vm in h.vms}
        assert a.to_nodes and set(a.to_nodes) <= set(h.topology.node_ids)
        assert a.bytes_to_move >= 0
