"""The admin servicer over a real etcd store, through a real grpc.aio server."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import grpc
import pytest

from numaplane.common.units import GiB
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store import ClusterStore
from numaplane.v1 import admin_pb2_grpc
from numaplane.v1.admin_pb2 import (
    Event,
    GetCommandRequest,
    GetHostRequest,
    GetVmRequest,
    ListHostsRequest,
    ListVmsRequest,
    RequestCommandRequest,
    WatchEventsRequest,
)
from numaplane.v1.link_pb2 import Command, Ping
from numaplane.v1.state_pb2 import CommandRequest, JournalEntry
from tests.support.admin_cluster import (
    AdminServer,
    Cluster,
    add_host,
    build_cluster,
    eventually,
    put_entry,
    put_vm,
    serve_admin,
    set_alive,
    topology,
    vm_status,
)

pytestmark = pytest.mark.integration

if TYPE_CHECKING:
    from numaplane.v1.admin_pb2_grpc import AdminAsyncStub as Stub


@pytest.fixture
async def server(store: ClusterStore) -> AsyncIterator[AdminServer]:
    async with serve_admin(store) as served:
        yield served


@pytest.fixture
async def stub(server: AdminServer) -> AsyncIterator[Stub]:
    async with grpc.aio.insecure_channel(server.address) as channel:
        yield admin_pb2_grpc.AdminStub(channel)


@pytest.fixture
async def cluster(store: ClusterStore) -> AsyncIterator[Cluster]:
    built = await build_cluster(store)
    yield built
    await built.up_lease.close()


async def test_list_hosts_derives_state_memory_and_locality(stub: Stub, cluster: Cluster) -> None:
    hosts = (await stub.ListHosts(ListHostsRequest())).hosts
    assert [h.name for h in hosts] == ["hv-a", "hv-b"]
    a, b = hosts
    assert (a.state, b.state) == ("up", "down")
    assert (a.vm_count, b.vm_count) == (2, 1)
    # web-1: 6 GiB at locality 1.0, db-1: 2 GiB at 0.5 -> (6 + 1) / 8.
    assert a.mean_locality == pytest.approx(7 / 8)
    # Free memory per node comes from the last status report, not from the Hello.
    assert [n.memory_free_bytes for n in a.topology.nodes] == [8 * GiB, 12 * GiB]
    assert [n.memory_total_bytes for n in a.topology.nodes] == [16 * GiB, 16 * GiB]
    assert [list(r.distances) for r in a.topology.distances] == [[10, 21], [21, 10]]
    assert sorted(v.name for v in a.vms) == ["db-1", "web-1"]
    assert a.capabilities.backend == "sim"
    assert a.last_report_at > 0
    assert list(b.topology.nodes[3].offline_cpus) == [15]


async def test_get_host_and_its_errors(stub: Stub, cluster: Cluster) -> None:
    host = await stub.GetHost(GetHostRequest(name="hv-b"))
    assert host.state == "down"
    assert len(host.topology.nodes) == 4
    assert [v.name for v in host.vms] == ["batch-1"]

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetHost(GetHostRequest(name="nope"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND
    assert err.value.details() == "unknown host 'nope'"

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetHost(GetHostRequest(name="a/b"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT


async def test_vm_state_follows_its_host(stub: Stub, cluster: Cluster) -> None:
    vms = {v.name: v for v in (await stub.ListVms(ListVmsRequest())).vms}
    assert sorted(vms) == ["batch-1", "db-1", "web-1"]
    assert vms["web-1"].state == "running"
    assert vms["batch-1"].state == "unknown"  # its host is down
    assert vms["batch-1"].observed.memory_bytes == 4 * GiB  # the last observation is kept

    only_a = (await stub.ListVms(ListVmsRequest(host="hv-a"))).vms
    assert [v.name for v in only_a] == ["db-1", "web-1"]

    vm = await stub.GetVm(GetVmRequest(name="db-1"))
    assert (vm.host, vm.state) == ("hv-a", "running")
    assert {nm.node: nm.bytes for nm in vm.observed.memory_by_node} == {0: GiB, 1: GiB}
    assert vm.observed.balloon.known

    for call, code in (
        (stub.GetVm(GetVmRequest(name="ghost")), grpc.StatusCode.NOT_FOUND),
        (stub.ListVms(ListVmsRequest(host="nope")), grpc.StatusCode.NOT_FOUND),
        (stub.GetVm(GetVmRequest(name="")), grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await call
        assert err.value.code() == code


async def test_host_goes_down_when_its_lease_ends_and_nothing_is_deleted(
    stub: Stub, store: ClusterStore, cluster: Cluster
) -> None:
    assert (await stub.GetHost(GetHostRequest(name="hv-a"))).state == "up"
    await cluster.up_lease.close()  # the agent's stream is gone: revoke, as the link does

    host = await stub.GetHost(GetHostRequest(name="hv-a"))
    assert host.state == "down"
    assert host.vm_count == 2
    vm = await stub.GetVm(GetVmRequest(name="web-1"))
    assert vm.state == "unknown"
    assert vm.observed.memory_bytes == 6 * GiB
    assert await store.get(keyspace.host_info("hv-a")) is not None


async def read_until(stream: AsyncIterator[Event], kind: str) -> list[Event]:
    """Events up to and including the first of `kind`."""
    seen: list[Event] = []
    async for event in stream:
        seen.append(event)
        if event.kind == kind:
            return seen
    raise AssertionError(f"stream ended before a {kind!r} event; saw {seen}")


async def next_event(stream: AsyncIterator[Event]) -> Event:
    return await anext(stream)


async def test_watch_events_follow_store_changes(
    stub: Stub, store: ClusterStore, server: AdminServer
) -> None:
    call = stub.WatchEvents(WatchEventsRequest(include_existing=False))
    stream = aiter(call)
    assert [e.kind for e in await read_until(stream, "synced")] == ["synced"]

    lease = await store.grant_lease(30)
    try:
        await add_host(store, "hv-n", topology(2))
        event = await next_event(stream)
        assert (event.kind, event.host) == ("host-updated", "hv-n")
        assert "2 NUMA nodes" in event.message

        await set_alive(store, "hv-n", lease)
        event = await next_event(stream)
        assert (event.kind, event.host) == ("host-up", "hv-n")

        await put_vm(store, vm_status("vm-1", "hv-n", {0: GiB}))
        event = await next_event(stream)
        assert (event.kind, event.host, event.vm) == ("vm-appeared", "hv-n", "vm-1")

        await put_vm(store, vm_status("vm-1", "hv-n", {0: GiB // 2, 1: GiB // 2}, locality=0.5))
        event = await next_event(stream)
        assert (event.kind, event.vm) == ("vm-updated", "vm-1")
        assert "locality 0.50" in event.message

        entry = JournalEntry(
            id="c1", host="hv-n", state="pending", command=Command(id="c1", ping=Ping())
        )
        for state in ("pending", "sent", "applied"):
            entry.state = state
            await put_entry(store, entry)
            event = await next_event(stream)
            assert (event.kind, event.host) == (f"command-{state}", "hv-n")

        await store.delete(keyspace.vm_status("vm-1"))
        event = await next_event(stream)
        assert (event.kind, event.vm, event.host) == ("vm-gone", "vm-1", "hv-n")
    finally:
        await lease.close()  # revoking deletes the alive key
    event = await next_event(stream)
    assert (event.kind, event.host) == ("host-down", "hv-n")

    assert server.servicer.watchers == 1
    call.cancel()
    # The server notices the cancellation and its watch ends with the RPC's task.
    await eventually(lambda: server.servicer.watchers == 0)


async def test_watch_events_replays_current_state_first(
    stub: Stub, store: ClusterStore, cluster: Cluster, server: AdminServer
) -> None:
    await put_entry(
        store,
        JournalEntry(id="c9", host="hv-a", state="applied", command=Command(id="c9", ping=Ping())),
    )
    call = stub.WatchEvents(WatchEventsRequest(include_existing=True))
    events = await read_until(aiter(call), "synced")
    call.cancel()
    facts = [(e.kind, e.host, e.vm) for e in events]
    assert facts == [
        ("host-up", "hv-a", ""),
        ("host-down", "hv-b", ""),
        ("vm-appeared", "hv-b", "batch-1"),
        ("vm-appeared", "hv-a", "db-1"),
        ("vm-appeared", "hv-a", "web-1"),
        ("command-applied", "hv-a", ""),
        ("synced", "", ""),
    ]
    await eventually(lambda: server.servicer.watchers == 0)


async def test_request_command_validates_and_records_intent(
    stub: Stub, store: ClusterStore, cluster: Cluster
) -> None:
    for host, kind, code in (
        ("nope", "ping", grpc.StatusCode.NOT_FOUND),
        ("hv-a", "reboot", grpc.StatusCode.INVALID_ARGUMENT),
        ("a/b", "ping", grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.RequestCommand(RequestCommandRequest(host=host, kind=kind))
        assert err.value.code() == code, (host, kind)
    requests, _ = await store.get_prefix(keyspace.REQUESTS)
    assert requests == []

    # A down host can be commanded: the journal delivers after it reconnects.
    response = await stub.RequestCommand(
        RequestCommandRequest(host="hv-b", kind="ping", payload="hello")
    )
    kv = await store.get(keyspace.request(response.request_id))
    assert kv is not None
    stored = decode(CommandRequest, kv.value)
    assert (stored.host, stored.kind, stored.payload) == ("hv-b", "ping", "hello")
    assert stored.command_id == ""  # only the leader journals it

    record = await stub.GetCommand(GetCommandRequest(request_id=response.request_id))
    assert (record.state, record.host, record.kind) == ("requested", "hv-b", "ping")

    # What the leader does: journal the command and link the request, in one txn.
    entry = JournalEntry(
        id="c42",
        host="hv-b",
        state="pending",
        command=Command(id="c42", epoch=7, ping=Ping(payload="hello")),
        request_id=stored.id,
    )
    stored.command_id = entry.id
    assert (
        await store.txn_put_many(
            [
                (keyspace.command("hv-b", entry.id), encode(entry), 0),
                (keyspace.request(stored.id), encode(stored), kv.mod_revision),
            ]
        )
        is not None
    )
    record = await stub.GetCommand(GetCommandRequest(request_id=stored.id))
    assert (record.state, record.command_id, record.epoch) == ("pending", "c42", 7)

    entry.state, entry.message = "applied", "pong hello"
    await put_entry(store, entry)
    record = await stub.GetCommand(GetCommandRequest(request_id=stored.id))
    assert (record.state, record.message) == ("applied", "pong hello")

    with pytest.raises(grpc.aio.AioRpcError) as err:
        await stub.GetCommand(GetCommandRequest(request_id="0123abcd"))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


async def test_unreadable_records_are_skipped_not_fatal(
    stub: Stub, store: ClusterStore, cluster: Cluster
) -> None:
    await store.put(keyspace.vm_status("broken"), "{not json")
    await store.put(keyspace.host_status("hv-b"), json.dumps({"nodeFree": "nope"}))
    hosts = (await stub.ListHosts(ListHostsRequest())).hosts
    assert [h.name for h in hosts] == ["hv-a", "hv-b"]
    vms = (await stub.ListVms(ListVmsRequest())).vms
    assert "broken" not in {v.name for v in vms}
