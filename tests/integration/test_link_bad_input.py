"""Bad input on the agent link, sent by a raw gRPC client to a real Controller.

An agent with a bug (or a hostile one) speaks the protocol directly here, without the
agent code that would never send such messages. Each bad message must come back as a
LinkError naming the problem, be logged, and leave etcd exactly as it was (keys, values
and mod revisions under the test's namespace); a bad report does not end the stream,
so the next valid report on it is stored as usual. A message over the size limit ends
the stream with RESOURCE_EXHAUSTED.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

import grpc
import pytest

from numaplane.common.topology import NumaNode, Topology
from numaplane.common.units import GiB
from numaplane.common.wire import topology_to_proto
from numaplane.controller.state import keyspace
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import link_pb2, link_pb2_grpc, types_pb2
from tests.support.cluster import Controller, controller_settings, wait_for

pytestmark = pytest.mark.integration

HOST = "bad-input-host"
U64_MAX = 2**64 - 1
LIVENESS_S = 10.0
"""Liveness bound for one answer from the controller (not a performance limit)."""

TOPOLOGY = Topology(
    nodes=(
        NumaNode(id=0, cpus=(0, 1, 2), offline_cpus=(3,), memory_total_bytes=16 * GiB,
                 memory_free_bytes=12 * GiB),
        NumaNode(id=1, cpus=(4, 5, 6, 7), memory_total_bytes=16 * GiB,
                 memory_free_bytes=12 * GiB),
    ),
    distances=((10, 21), (21, 10)),
)

Call = grpc.aio.StreamStreamCall[link_pb2.AgentMessage, link_pb2.ControllerMessage]
Snapshot = dict[str, tuple[str, int]]


# -- message builders -----------------------------------------------------------------


def hello(host: str = HOST, topology: types_pb2.Topology | None = None) -> link_pb2.AgentMessage:
    return link_pb2.AgentMessage(hello=link_pb2.Hello(
        host=host, topology=topology or topology_to_proto(TOPOLOGY), agent_version="raw-test",
        capabilities=types_pb2.Capabilities(backend="raw"),
    ))


def vm(
    name: str, *, vm_id: str | None = None, by_node: Mapping[int, int] | None = None,
    cpus: Sequence[int] = (0, 1), memory_bytes: int | None = None, locality: float = 1.0,
) -> types_pb2.VmObservation:
    by_node = {0: GiB} if by_node is None else by_node
    return types_pb2.VmObservation(
        id=f"id-{name}" if vm_id is None else vm_id, name=name, vcpus=len(cpus),
        memory_bytes=sum(by_node.values()) if memory_bytes is None else memory_bytes,
        memory_by_node=[types_pb2.NodeMemory(node=n, bytes=b) for n, b in by_node.items()],
        allowed_cpus=list(cpus), running_cpus=list(cpus), locality=locality, state="running",
    )


def report(
    sequence: int, vms: Sequence[types_pb2.VmObservation],
    free: Mapping[int, int] | None = None,
) -> link_pb2.AgentMessage:
    free = {0: 12 * GiB, 1: 12 * GiB} if free is None else free
    return link_pb2.AgentMessage(report=link_pb2.Report(
        sequence=sequence, observed_at=1.7e9 + sequence,
        node_free=[types_pb2.NodeFree(node=n, free_bytes=b) for n, b in free.items()],
        vms=list(vms),
    ))


def topology_proto(**changes: Any) -> types_pb2.Topology:
    """The test topology as a message, with fields replaced (no validation on the way)."""
    msg = topology_to_proto(TOPOLOGY)
    for name, value in changes.items():
        del getattr(msg, name)[:]
        getattr(msg, name).extend(value)
    return msg


# -- the raw client ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def raw_link(address: str) -> AsyncIterator[Call]:
    """One AgentLink stream with no agent behind it; cancelled and closed on the way out."""
    async with grpc.aio.insecure_channel(address) as channel:
        call = link_pb2_grpc.AgentLinkStub(channel).Connect()
        try:
            yield call
        finally:
            call.cancel()


async def answer(call: Call) -> link_pb2.ControllerMessage:
    async with asyncio.timeout(LIVENESS_S):
        msg = await call.read()
    assert isinstance(msg, link_pb2.ControllerMessage), f"stream ended: {await call.code()}"
    return msg


async def final_status(call: Call) -> tuple[grpc.StatusCode, str]:
    """Read to the end of the stream; its status code and details."""
    async with asyncio.timeout(LIVENESS_S):
        with contextlib.suppress(grpc.aio.AioRpcError):
            while await call.read() is not grpc.aio.EOF:
                pass
        return await call.code(), await call.details()


async def snapshot(store: EtcdStore) -> Snapshot:
    kvs, _ = await store.get_prefix(keyspace.ROOT)
    return {kv.key: (kv.value, kv.mod_revision) for kv in kvs}


@contextlib.asynccontextmanager
async def controller(
    etcd: EmbeddedEtcd, store: EtcdStore, **overrides: object
) -> AsyncIterator[Controller]:
    settings = controller_settings(etcd.endpoint, store.settings.namespace, **overrides)
    async with Controller(settings) as ctl:
        # The leader key is written once at start; wait for it so snapshots are stable.
        async def leading() -> bool:
            return ctl.election.is_leader

        await wait_for(leading)
        yield ctl


def refusals(caplog: pytest.LogCaptureFixture, prefix: str) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelname == "WARNING" and r.getMessage().startswith(prefix)]


# -- Hello ----------------------------------------------------------------------------------


BAD_FIRST_MESSAGES: dict[str, tuple[link_pb2.AgentMessage, str]] = {
    "report before Hello": (report(1, [vm("v")]), "the first message on the link must be Hello"),
    "result before Hello": (
        link_pb2.AgentMessage(result=link_pb2.CommandResult(id="x", ok=True)),
        "the first message on the link must be Hello",
    ),
    "host name with a slash": (hello("bad/name"), "host name 'bad/name' is not valid"),
    "empty host name": (hello(""), "host name '' is not valid"),
    "distance matrix not square": (
        hello(topology=topology_proto(distances=[types_pb2.DistanceRow(distances=[10, 21])])),
        "distance matrix must be 2x2",
    ),
    "CPU on two nodes": (
        hello(topology=topology_proto(nodes=[
            types_pb2.NumaNode(id=0, cpus=[0, 1], memory_total_bytes=GiB),
            types_pb2.NumaNode(id=1, cpus=[1, 2], memory_total_bytes=GiB),
        ])),
        "CPU 1 belongs to more than one node",
    ),
    "no nodes": (
        hello(topology=types_pb2.Topology()), "a topology needs at least one NUMA node",
    ),
}


@pytest.mark.parametrize("case", list(BAD_FIRST_MESSAGES))
async def test_bad_first_message_is_refused_and_stores_nothing(
    etcd: EmbeddedEtcd, store: EtcdStore, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    message, reason = BAD_FIRST_MESSAGES[case]
    async with controller(etcd, store) as ctl:
        before = await snapshot(store)
        async with raw_link(ctl.settings.link_address) as call:
            await call.write(message)
            error = await answer(call)
            assert error.WhichOneof("body") == "error"
            assert reason in error.error.reason
            code, details = await final_status(call)
        assert code == grpc.StatusCode.INVALID_ARGUMENT
        assert reason in details
        assert await snapshot(store) == before
        assert ctl.sessions.all() == []
    assert any(reason in m for m in refusals(caplog, "refused an agent: ")), caplog.text


# -- reports on an established stream -----------------------------------------------------


def _with_vm(name: str, **kw: Any) -> Callable[[int], link_pb2.AgentMessage]:
    return lambda seq: report(seq, [vm(name, **kw)])


BAD_REPORTS: dict[str, tuple[Callable[[int], link_pb2.AgentMessage], str]] = {
    "free memory of an unknown node": (
        lambda seq: report(seq, [], free={0: GiB, 7: GiB}),
        "free memory reported for node 7, not in topology",
    ),
    "free memory above the node's total": (
        lambda seq: report(seq, [], free={0: 17 * GiB, 1: GiB}),
        f"node 0: free memory {17 * GiB} exceeds its total {16 * GiB}",
    ),
    "free memory impossibly large": (
        lambda seq: report(seq, [], free={0: GiB, 1: U64_MAX}),
        f"node 1: free memory {U64_MAX} exceeds its total",
    ),
    "VM memory on an unknown node": (
        _with_vm("v", by_node={0: GiB, 9: GiB}), "VM 'v': memory on node 9, not in topology",
    ),
    "VM memory on a node above its total": (
        _with_vm("v", by_node={1: 17 * GiB}),
        f"VM 'v': {17 * GiB} bytes on node 1, more than the node holds",
    ),
    "VM memory impossibly large": (
        _with_vm("v", by_node={0: U64_MAX}), "more than the node holds",
    ),
    "VM size impossibly large": (
        _with_vm("v", memory_bytes=U64_MAX), f"VM 'v': memory size {U64_MAX} is impossible",
    ),
    "duplicate VM ids": (
        lambda seq: report(seq, [vm("v1", vm_id="same"), vm("v2", vm_id="same")]),
        "duplicate VM id 'same' in one report",
    ),
    "duplicate VM names": (
        lambda seq: report(seq, [vm("twin", vm_id="1"), vm("twin", vm_id="2")]),
        "duplicate VM name 'twin' in one report",
    ),
    "empty VM id": (_with_vm("v", vm_id=""), "VM 'v': empty id"),
    "VM name with a slash": (_with_vm("a/b"), "VM 'a/b': name is not valid"),
    "offline CPU": (_with_vm("v", cpus=(2, 3)), "VM 'v': CPU 3 is not an online CPU"),
    "unknown CPU": (_with_vm("v", cpus=(99,)), "VM 'v': CPU 99 is not an online CPU"),
    "locality above 1": (_with_vm("v", locality=1.5), "VM 'v': locality 1.5 is outside 0..1"),
    "negative locality": (
        _with_vm("v", locality=-0.25), "VM 'v': locality -0.25 is outside 0..1",
    ),
    "locality NaN": (_with_vm("v", locality=math.nan), "VM 'v': locality nan is outside 0..1"),
    "a second Hello": (lambda seq: hello(), "unexpected hello after Hello"),
}


async def test_each_bad_report_is_refused_on_the_stream_and_the_next_is_accepted(
    etcd: EmbeddedEtcd, store: EtcdStore, caplog: pytest.LogCaptureFixture
) -> None:
    async with controller(etcd, store) as ctl, raw_link(ctl.settings.link_address) as call:
        await call.write(hello())
        assert (await answer(call)).WhichOneof("body") == "welcome"
        good: list[types_pb2.VmObservation] = []
        sequence = 0
        for i, (case, (build, reason)) in enumerate(BAD_REPORTS.items()):
            before = await snapshot(store)
            sequence += 1
            bad = build(sequence)
            await call.write(bad)
            msg = await answer(call)
            assert msg.WhichOneof("body") == "error", case
            assert reason in msg.error.reason, f"{case}: {msg.error.reason!r}"
            expected_sequence = sequence if bad.WhichOneof("body") == "report" else 0
            assert msg.error.report_sequence == expected_sequence, case
            assert await snapshot(store) == before, f"{case}: the store changed"
            assert any(reason in m for m in refusals(caplog, f"refused a message from {HOST}: ")
                       ), f"{case}: not logged"
            # The stream is still good: a valid report (one more VM each time) is stored.
            good.append(vm(f"ok-{i}", by_node={1: GiB}, cpus=(4,)))
            sequence += 1
            await call.write(report(sequence, good))

            async def stored(name: str = f"ok-{i}") -> bool:
                return await store.get(keyspace.vm_status(name)) is not None

            await wait_for(stored, timeout=LIVENESS_S)
        assert len(ctl.sessions.all()) == 1
        assert ctl.metrics.registry.get_sample_value(
            "numaplane_reports_refused_total") == len(BAD_REPORTS)


# -- the size limit ------------------------------------------------------------------------


def oversized_report(limit: int) -> link_pb2.AgentMessage:
    """A valid report, only too large: VMs until the encoded message passes the limit."""
    vms: list[types_pb2.VmObservation] = []
    msg = report(1, vms)
    while msg.ByteSize() <= limit:
        vms.extend(vm(f"big-{len(vms) + k}", by_node={0: 1 << 20}) for k in range(100))
        msg = report(1, vms)
    return msg


@pytest.mark.parametrize("after_hello", [True, False], ids=["report", "first-message"])
async def test_message_over_the_size_limit_ends_the_stream_and_stores_nothing(
    etcd: EmbeddedEtcd, store: EtcdStore, caplog: pytest.LogCaptureFixture, after_hello: bool
) -> None:
    caplog.set_level(logging.INFO, logger="numaplane.controller.link.servicer")
    limit = 64 * 1024
    # A liveness lease far longer than the test: the host key can only go by revocation.
    async with controller(etcd, store, max_message_bytes=limit, host_lease_ttl_s=600) as ctl:
        before = await snapshot(store)
        async with raw_link(ctl.settings.link_address) as call:
            if after_hello:
                await call.write(hello())
                assert (await answer(call)).WhichOneof("body") == "welcome"
            await call.write(oversized_report(limit))
            code, details = await final_status(call)
        assert code == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in details, details

        async def session_gone() -> bool:
            # grpc cancelled the servicer; its session still revoked the host's lease.
            alive = await store.get(keyspace.host_alive(HOST))
            return ctl.sessions.all() == [] and alive is None

        await wait_for(session_gone, timeout=LIVENESS_S)
        after = await snapshot(store)
        vms = [k for k in after if k.startswith(keyspace.VMS)]
        assert vms == []
        assert keyspace.host_status(HOST) not in after
        if not after_hello:
            assert after == before
        else:
            assert f"host {HOST} disconnected" in caplog.text

