"""Two controller replicas on one etcd namespace: one leader, fenced by its epoch.

The epoch is the create revision of the leader key, so every new leader's is higher.
Agents refuse commands from an older epoch than one they have accepted, and say in
Hello which epoch that is. Operator requests are journaled under a transaction guarded
by the request's revision, so a request becomes one command even while two replicas
(the leader and one that has not yet noticed it was deposed) both act on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import grpc
import pytest

from numaplane.controller.reconciler import build_command
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import admin_pb2, admin_pb2_grpc, link_pb2, link_pb2_grpc, state_pb2
from tests.support.cluster import (
    Controller,
    controller_settings,
    running_agents,
    sim_agent,
    wait_for,
)

pytestmark = pytest.mark.integration


class Replicas:
    """Controller replicas this test owns; any not stopped by the test stop at the end."""

    def __init__(self, etcd: EmbeddedEtcd, namespace: str) -> None:
        self._etcd = etcd
        self._namespace = namespace
        self.running: dict[str, Controller] = {}

    async def start(self, name: str) -> Controller:
        ctl = Controller(controller_settings(self._etcd.endpoint, self._namespace,
                                             controller_id=name))
        await ctl.__aenter__()
        self.running[name] = ctl
        return ctl

    async def stop(self, ctl: Controller) -> None:
        del self.running[ctl.settings.controller_id]
        await ctl.stop()

    def leaders(self) -> list[Controller]:
        return [c for c in self.running.values() if c.election.is_leader]

    async def one_leader(self) -> Controller:
        async def settled() -> bool:
            return len(self.leaders()) == 1

        await wait_for(settled)
        return self.leaders()[0]


@contextlib.asynccontextmanager
async def replicas(etcd: EmbeddedEtcd, store: EtcdStore, *names: str) -> AsyncIterator[Replicas]:
    r = Replicas(etcd, store.settings.namespace)
    try:
        for name in names:
            await r.start(name)
        yield r
    finally:
        for ctl in list(r.running.values()):
            await r.stop(ctl)


async def leader_key(store: EtcdStore) -> tuple[str, int]:
    """(controller id, create revision) of the leader key."""
    kv = await store.get(keyspace.LEADER)
    assert kv is not None
    return decode(state_pb2.LeaderRecord, kv.value).controller_id, kv.create_revision


async def test_one_replica_leads_and_the_other_takes_over_with_a_higher_epoch(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with replicas(etcd, store, "ctl-a", "ctl-b") as r:
        first = await r.one_leader()
        (follower,) = [c for c in r.running.values() if c is not first]
        assert not follower.election.is_leader
        assert await leader_key(store) == (first.settings.controller_id, first.election.epoch)
        assert first.metrics.registry.get_sample_value("numaplane_is_leader") == 1
        assert follower.metrics.registry.get_sample_value("numaplane_is_leader") == 0
        old_epoch = first.election.epoch

        await r.stop(first)
        second = await r.one_leader()
        assert second is follower
        assert second.election.epoch > old_epoch
        assert await leader_key(store) == (second.settings.controller_id,
                                           second.election.epoch)


class HelloRecorder(link_pb2_grpc.AgentLinkServicer):
    """A link endpoint that only welcomes agents and keeps their Hellos."""

    def __init__(self) -> None:
        self.hellos: asyncio.Queue[link_pb2.Hello] = asyncio.Queue()

    async def Connect(  # type: ignore[override]
        self, request_iterator: object,
        context: grpc.aio.ServicerContext[link_pb2.AgentMessage, link_pb2.ControllerMessage],
    ) -> None:
        first = await context.read()
        assert isinstance(first, link_pb2.AgentMessage)
        self.hellos.put_nowait(first.hello)
        await context.write(link_pb2.ControllerMessage(
            welcome=link_pb2.Welcome(controller_id="recorder", report_interval_s=60.0)))
        while isinstance(await context.read(), link_pb2.AgentMessage):
            pass  # until the agent leaves (EOF)


@contextlib.asynccontextmanager
async def hello_recorder() -> AsyncIterator[tuple[HelloRecorder, str]]:
    recorder = HelloRecorder()
    server = grpc.aio.server()
    link_pb2_grpc.add_AgentLinkServicer_to_server(recorder, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield recorder, f"127.0.0.1:{port}"
    finally:
        await server.stop(0)


async def request(address: str, host: str, kind: str = "ping", payload: str = "") -> str:
    async with grpc.aio.insecure_channel(address) as channel:
        response = await admin_pb2_grpc.AdminStub(channel).RequestCommand(
            admin_pb2.RequestCommandRequest(host=host, kind=kind, payload=payload))
    return response.request_id


async def journal_entries(store: EtcdStore, host: str) -> list[state_pb2.JournalEntry]:
    kvs, _ = await store.get_prefix(keyspace.host_commands(host))
    return [decode(state_pb2.JournalEntry, kv.value) for kv in kvs]


async def finished(store: EtcdStore, host: str, command_id: str) -> state_pb2.JournalEntry:
    async def done() -> bool:
        kv = await store.get(keyspace.command(host, command_id))
        return kv is not None and decode(state_pb2.JournalEntry, kv.value).state in (
            journal.FINISHED_STATES)

    await wait_for(done)
    kv = await store.get(keyspace.command(host, command_id))
    assert kv is not None
    return decode(state_pb2.JournalEntry, kv.value)


async def journaled(store: EtcdStore, request_id: str) -> str:
    """The command id the leader gave a request, once it has journaled it."""
    async def has_command() -> bool:
        kv = await store.get(keyspace.request(request_id))
        return kv is not None and bool(decode(state_pb2.CommandRequest, kv.value).command_id)

    await wait_for(has_command)
    kv = await store.get(keyspace.request(request_id))
    assert kv is not None
    return decode(state_pb2.CommandRequest, kv.value).command_id


async def test_agent_refuses_the_old_epoch_after_accepting_the_new_and_reports_it_in_hello(
    etcd: EmbeddedEtcd, store: EtcdStore, tmp_path: Path
) -> None:
    async with replicas(etcd, store, "ctl-a", "ctl-b") as r, running_agents() as agents:
        old = await r.one_leader()
        (survivor,) = [c for c in r.running.values() if c is not old]
        old_epoch = old.election.epoch
        agent = agents.start(sim_agent("h1", survivor.settings, state_dir=tmp_path))
        await wait_for(lambda: _has_session(survivor, "h1"))

        await r.stop(old)
        new = await r.one_leader()
        assert new is survivor and new.election.epoch > old_epoch
        command_id = await journaled(store, await request(new.settings.admin_address, "h1"))
        accepted = await finished(store, "h1", command_id)
        assert accepted.state == "applied" and accepted.command.epoch == new.election.epoch
        assert agent.executor.max_epoch == new.election.epoch

        # What the deposed leader wrote just before it noticed: same code, its old epoch.
        stale = build_command(state_pb2.CommandRequest(kind="ping", payload="stale"), old_epoch)
        await store.create(keyspace.command("h1", stale.id), encode(journal.new_entry("h1", stale)))
        refused = await finished(store, "h1", stale.id)
        assert refused.state == "failed"
        assert refused.message == (
            f"refused: epoch {old_epoch} is older than {new.election.epoch}")
        assert agent.applied.get(stale.id) is None
        await agents.stop("h1")

    # The agent, restarted from its state directory, says which epoch it last accepted.
    async with hello_recorder() as (recorder, address), running_agents() as again:
        link_only = dataclasses.replace(ControllerSettings(), link_address=address)
        again.start(sim_agent("h1", link_only, state_dir=tmp_path))
        async with asyncio.timeout(30):
            hello = await recorder.hellos.get()
        assert hello.host == "h1"
        assert hello.last_epoch == new.election.epoch


async def _has_session(ctl: Controller, host: str) -> bool:
    return ctl.sessions.get(host) is not None


async def test_requests_are_journaled_once_while_two_replicas_act_on_them(
    etcd: EmbeddedEtcd, store: EtcdStore, caplog: pytest.LogCaptureFixture
) -> None:
    """The leader's reconciler and the follower's, run as if the follower still led (a
    deposed leader does that until it notices), both turn every request into a command;
    the guarded transaction lets exactly one of them through."""
    caplog.set_level("INFO", logger="numaplane.controller.reconciler")
    async with replicas(etcd, store, "ctl-a", "ctl-b") as r, running_agents() as agents:
        leader = await r.one_leader()
        (other,) = [c for c in r.running.values() if c is not leader]
        agents.start(sim_agent("h1", other.settings))
        await wait_for(lambda: _has_session(other, "h1"))
        deposed = asyncio.create_task(other.reconciler.run(), name="deposed-reconciler")
        try:
            request_ids: list[str] = []
            # Keep requesting, through both replicas' admin APIs, until the two
            # reconcilers have collided at least once (the deposed one's watch needs a
            # moment to start); every request so far must still be journaled once.
            while len(request_ids) < 10 or "journaled by someone else" not in caplog.text:
                assert len(request_ids) < 200, "the two reconcilers never collided"
                via = (leader, other)[len(request_ids) % 2]
                request_ids.append(
                    await request(via.settings.admin_address, "h1", payload=str(len(request_ids))))
            command_ids = {rid: await journaled(store, rid) for rid in request_ids}
        finally:
            deposed.cancel()
            await asyncio.gather(deposed, return_exceptions=True)
        entries = await journal_entries(store, "h1")
        assert sorted(e.request_id for e in entries) == sorted(request_ids)
        assert {e.request_id: e.id for e in entries} == command_ids
        collisions = caplog.text.count("journaled by someone else")
        assert 1 <= collisions <= len(request_ids)
