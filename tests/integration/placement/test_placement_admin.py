"""The VM half of the admin API over real gRPC and etcd: refusals store nothing, duplicate
creates cannot both succeed, delete marks, explain reads, schedules toggle."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable

import grpc
import pytest

from numaplane.common.units import GiB
from numaplane.controller.state import keyspace
from numaplane.controller.state.snapshot import read_snapshot
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import admin_pb2, admin_pb2_grpc
from tests.support.admin_cluster import build_cluster, serve_admin

pytestmark = pytest.mark.integration

Code = grpc.StatusCode


async def _code(call: Awaitable[object]) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as e:
        return e.code()
    return Code.OK


def _req(**kw: object) -> admin_pb2.CreateVmRequest:
    fields: dict[str, object] = {"name": "x", "vcpus": 1, "memory_bytes": GiB}
    fields.update(kw)
    return admin_pb2.CreateVmRequest(**fields)  # type: ignore[arg-type]


# What the CLI never sends (it checks these itself), refused by the API all the same.
API_REFUSALS = [
    (_req(vcpus=0), Code.INVALID_ARGUMENT, "a VM needs at least 1 vCPU"),
    (_req(memory_bytes=0), Code.INVALID_ARGUMENT, "memory must be greater than 0"),
    (_req(nodes=[0]), Code.INVALID_ARGUMENT, "nodes can only be given with a host"),
    (_req(host="hv-a", nodes=[1, 1]), Code.INVALID_ARGUMENT, "node 1 is given twice"),
    (_req(affinity="affinity"), Code.INVALID_ARGUMENT, "an affinity rule needs a group"),
    (_req(group="g", affinity="near"), Code.INVALID_ARGUMENT, "unknown affinity 'near'"),
    (_req(group="a/b"), Code.INVALID_ARGUMENT, "invalid group name 'a/b'"),
    (_req(policy="best"), Code.INVALID_ARGUMENT, "unknown placement policy 'best'"),
    (_req(reservation_bytes=2 * GiB), Code.INVALID_ARGUMENT,
     "reservation 2G is above the memory size 1G"),
    (_req(name=""), Code.INVALID_ARGUMENT, "invalid VM name ''"),
    (_req(host="hv-x"), Code.INVALID_ARGUMENT, "unknown host 'hv-x'"),
    (_req(name="web-1"), Code.ALREADY_EXISTS, "a VM named 'web-1' already runs on host hv-a"),
]


async def test_refusals_store_nothing_and_duplicates_cannot_both_succeed(
    store: EtcdStore,
) -> None:
    await build_cluster(store)
    async with serve_admin(store) as server, grpc.aio.insecure_channel(server.address) as ch:
        stub = admin_pb2_grpc.AdminStub(ch)
        for request, code, text in API_REFUSALS:
            with pytest.raises(grpc.aio.AioRpcError) as info:
                await stub.CreateVm(request)
            assert info.value.code() == code, request
            assert text in (info.value.details() or ""), (request, info.value.details())
        kvs, _ = await store.get_prefix(keyspace.VMS)
        assert not [kv.key for kv in kvs if not kv.key.endswith("/status")]

        codes = await asyncio.gather(
            *(_code(stub.CreateVm(_req(name="same", memory_bytes=2 * GiB))) for _ in range(10))
        )
        assert codes.count(Code.OK) == 1
        assert codes.count(Code.ALREADY_EXISTS) == 9


async def test_delete_explain_and_schedule(store: EtcdStore) -> None:
    await build_cluster(store)
    async with serve_admin(store) as server, grpc.aio.insecure_channel(server.address) as ch:
        stub = admin_pb2_grpc.AdminStub(ch)
        await stub.CreateVm(_req(name="app"))
        explained = await stub.ExplainVm(admin_pb2.ExplainVmRequest(name="app"))
        assert explained.state == "pending" and "not yet considered" in explained.reason
        reply = await stub.DeleteVm(admin_pb2.DeleteVmRequest(name="app"))
        assert reply.message == "VM app marked for deletion"
        reply = await stub.DeleteVm(admin_pb2.DeleteVmRequest(name="app"))
        assert reply.message == "VM app is already being deleted"
        spec = (await read_snapshot(store)).vms["app"].spec
        assert spec is not None and spec.value.deleted
        assert await _code(stub.DeleteVm(admin_pb2.DeleteVmRequest(name="nope"))) == (
            Code.NOT_FOUND
        )
        # A VM started outside numaplane has no spec to delete.
        assert await _code(stub.DeleteVm(admin_pb2.DeleteVmRequest(name="web-1"))) == (
            Code.INVALID_ARGUMENT
        )
        assert await _code(stub.ExplainVm(admin_pb2.ExplainVmRequest(name="nope"))) == (
            Code.NOT_FOUND
        )
        assert await _code(stub.SetHostSchedule(
            admin_pb2.SetHostScheduleRequest(host="hv-x", action="cordon"))) == Code.NOT_FOUND
        assert await _code(stub.SetHostSchedule(
            admin_pb2.SetHostScheduleRequest(host="hv-a", action="pause"))) == (
            Code.INVALID_ARGUMENT
        )

        sched = stub.SetHostSchedule
        r = await sched(admin_pb2.SetHostScheduleRequest(host="hv-b", action="cordon"))
        assert (r.cordoned, r.draining) == (True, False)
        r = await sched(admin_pb2.SetHostScheduleRequest(host="hv-b", action="drain"))
        assert (r.cordoned, r.draining) == (True, True)
        snapshot = await read_snapshot(store)
        assert snapshot.hosts["hv-b"].state == "down"  # down wins over draining
        r = await sched(admin_pb2.SetHostScheduleRequest(host="hv-a", action="drain"))
        assert (await read_snapshot(store)).hosts["hv-a"].state == "draining"
        r = await sched(admin_pb2.SetHostScheduleRequest(host="hv-a", action="uncordon"))
        assert (r.cordoned, r.draining) == (False, False)
        assert (await read_snapshot(store)).hosts["hv-a"].state == "up"
