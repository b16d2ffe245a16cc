"""One decision (numaplane.controller.placement.decide): policy choice, the claim check every policy
passes, overcommit only with a reservation, and the StartVm it becomes."""

from __future__ import annotations

from google.protobuf.message import Message

from numaplane.common.units import GiB
from numaplane.controller.placement.decide import decide, policy_name, start_command, vm_request
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, snapshot_from_kvs
from numaplane.controller.state.views import build_view
from numaplane.controller.store.contract import KV
from numaplane.v1 import state_pb2, types_pb2


def _kv(key: str, msg: Message) -> KV:
    return KV(key, encode(msg), 1, 1)


def _cluster(*extra: KV, free: tuple[int, int] = (8 * GiB, 8 * GiB)) -> ClusterSnapshot:
    topo = types_pb2.Topology(
        nodes=[
            types_pb2.NumaNode(id=i, cpus=[2 * i, 2 * i + 1], memory_total_bytes=8 * GiB,
                               memory_free_bytes=8 * GiB)
            for i in range(2)
        ],
        distances=[types_pb2.DistanceRow(distances=[10, 21]),
                   types_pb2.DistanceRow(distances=[21, 10])],
    )
    kvs = [
        _kv(keyspace.host_info("h"), state_pb2.HostInfo(host="h", topology=topo)),
        KV(keyspace.host_alive("h"), "{}", 1, 1),
        _kv(keyspace.host_status("h"), state_pb2.HostStatus(
            observed_at=1.0,
            node_free=[types_pb2.NodeFree(node=i, free_bytes=f) for i, f in enumerate(free)])),
        *extra,
    ]
    return snapshot_from_kvs(kvs, 5)


def _claim(vm: str, node: int, size: int) -> KV:
    return _kv(keyspace.claim("h", vm), state_pb2.Claim(
        host="h", vm=vm, memory_by_node=[types_pb2.NodeMemory(node=node, bytes=size)]))


def test_the_policy_is_the_specs_else_the_clusters_else_numaplane() -> None:
    spec = state_pb2.VmSpec(name="v", vcpus=1, memory_bytes=GiB)
    assert policy_name(spec, _cluster()) == "numaplane"
    config = _kv(keyspace.POLICY, state_pb2.PolicyConfig(default_placement="xen"))
    assert policy_name(spec, _cluster(config)) == "xen"
    bogus = _kv(keyspace.POLICY, state_pb2.PolicyConfig(default_placement="bogus"))
    assert policy_name(spec, _cluster(bogus)) == "numaplane"
    spec.policy = "first-fit"
    assert policy_name(spec, _cluster(config)) == "first-fit"


def test_vm_request_maps_unset_fields_to_none() -> None:
    r = vm_request(state_pb2.VmSpec(name="v", vcpus=2, memory_bytes=GiB, group="g",
                                    affinity="anti-affinity"))
    assert (r.limit_bytes, r.host, r.nodes, r.policy) == (None, None, None, None)
    assert (r.group, r.affinity, r.shares) == ("g", "anti-affinity", 1000)


def test_a_baseline_that_ignores_claims_cannot_overfill_a_node() -> None:
    # 6G of node 0 and 6G of node 1 are claimed by VMs not yet observed: 4G left in all.
    snapshot = _cluster(_claim("a", 0, 6 * GiB), _claim("b", 1, 6 * GiB))
    spec = state_pb2.VmSpec(name="v", vcpus=1, memory_bytes=5 * GiB, policy="first-fit")
    outcome = decide(spec, snapshot, build_view(snapshot))
    assert outcome.decision.placement is not None  # first-fit saw 16G free and chose h
    assert outcome.claim is None
    assert outcome.pending_reason == "h nodes 0,1 have 4G after claims in flight, not 5G"
    # numaplane counts the claims itself and says so.
    spec.policy = "numaplane"
    outcome = decide(spec, snapshot, build_view(snapshot))
    assert outcome.claim is None and "no host can hold 5G" in outcome.pending_reason


def test_overcommit_only_for_a_vm_with_a_reservation() -> None:
    snapshot = _cluster(free=(3 * GiB, 3 * GiB))
    spec = state_pb2.VmSpec(name="v", vcpus=1, memory_bytes=8 * GiB)
    outcome = decide(spec, snapshot, build_view(snapshot))
    assert outcome.claim is None and "without a reservation" in outcome.pending_reason
    spec.reservation_bytes = 2 * GiB
    outcome = decide(spec, snapshot, build_view(snapshot))
    assert outcome.claim is not None and sum(outcome.claim.values()) == outcome.boot_bytes
    assert 2 * GiB <= outcome.boot_bytes < 8 * GiB
    placement = outcome.decision.placement
    host = build_view(snapshot).host("h")
    assert placement is not None and host is not None
    start = start_command(spec, placement, host, outcome.boot_bytes)
    assert start.memory_bytes == 8 * GiB and start.limit_bytes == outcome.boot_bytes
    assert start.strict_memory


def test_a_placement_that_binds_nothing_starts_unbound() -> None:
    snapshot = _cluster()
    spec = state_pb2.VmSpec(name="v", vcpus=1, memory_bytes=GiB, policy="first-fit")
    outcome = decide(spec, snapshot, build_view(snapshot))
    placement = outcome.decision.placement
    host = build_view(snapshot).host("h")
    assert placement is not None and host is not None and outcome.claim is not None
    start = start_command(spec, placement, host)
    assert list(start.nodes) == [] and not start.strict_memory
    assert sum(outcome.claim.values()) == GiB  # still claimed, spread by room
