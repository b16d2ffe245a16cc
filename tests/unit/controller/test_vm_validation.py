"""CreateVm validation (numaplane.controller.placement.validation): the spec stored, and the first
problem."""

from __future__ import annotations

import pytest
from google.protobuf.message import Message

from numaplane.common.units import GiB
from numaplane.controller.placement.validation import (
    DEFAULT_SHARES,
    Refusal,
    VmRequestError,
    validate_create,
)
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, snapshot_from_kvs
from numaplane.controller.store.contract import KV
from numaplane.v1 import admin_pb2, state_pb2, types_pb2


def _kv(key: str, msg: Message) -> KV:
    return KV(key, encode(msg), 1, 1)


def _hosts(*cpus_per_node: int) -> ClusterSnapshot:
    topo = types_pb2.Topology(
        nodes=[types_pb2.NumaNode(id=i, cpus=list(range(10 * i, 10 * i + c)),
                                  memory_total_bytes=GiB) for i, c in enumerate(cpus_per_node)],
        distances=[types_pb2.DistanceRow(distances=[10 if i == j else 21
                                                    for j in range(len(cpus_per_node))])
                   for i in range(len(cpus_per_node))],
    )
    return snapshot_from_kvs([_kv(keyspace.host_info("h"), state_pb2.HostInfo(topology=topo))], 1)


def test_the_stored_spec_carries_the_request_and_default_shares() -> None:
    spec = validate_create(
        admin_pb2.CreateVmRequest(name="v", vcpus=2, memory_bytes=4 * GiB, limit_bytes=3 * GiB,
                                  reservation_bytes=GiB, host="h", nodes=[1], group="g",
                                  affinity="affinity", policy="xen"),
        _hosts(2, 2), now=5.0,
    )
    assert (spec.vcpus, spec.memory_bytes, spec.limit_bytes, spec.reservation_bytes) == (
        2, 4 * GiB, 3 * GiB, GiB)
    assert (spec.host, list(spec.nodes), spec.group, spec.affinity, spec.policy) == (
        "h", [1], "g", "affinity", "xen")
    assert spec.shares == DEFAULT_SHARES and spec.created_at == 5.0 and not spec.deleted


@pytest.mark.parametrize(
    ("fields", "snapshot_cpus", "message"),
    [
        ({"vcpus": 5}, (2, 2), "5 vCPUs: no host has that many CPUs (the largest has 4)"),
        ({"vcpus": 1}, (), "1 vCPUs: no host has that many CPUs (no host is known yet)"),
        ({"vcpus": 3, "host": "h", "nodes": [0]}, (2, 2), "3 vCPUs: nodes 0 of host h have 2"),
        ({"limit_bytes": 2 * GiB}, (2,), "limit 2G is above the memory size 1G"),
        ({"limit_bytes": GiB // 2, "reservation_bytes": GiB}, (2,),
         "reservation 1G is above the limit 512M"),
        ({"host": "h", "nodes": [3]}, (2, 2), "host h has no node 3 (its nodes: 0,1)"),
    ],
)
def test_the_first_problem_is_named(
    fields: dict[str, object], snapshot_cpus: tuple[int, ...], message: str
) -> None:
    request = admin_pb2.CreateVmRequest(name="v", vcpus=1, memory_bytes=GiB)
    for key, value in fields.items():
        if isinstance(value, list):
            getattr(request, key).extend(value)
        else:
            setattr(request, key, value)
    snapshot = _hosts(*snapshot_cpus) if snapshot_cpus else snapshot_from_kvs([], 1)
    with pytest.raises(VmRequestError) as info:
        validate_create(request, snapshot)
    assert info.value.kind == Refusal.INVALID
    assert message in info.value.message
