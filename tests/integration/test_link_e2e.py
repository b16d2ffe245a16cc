"""End to end on the real path: sim agents -> gRPC link -> controller -> etcd -> admin/CLI."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from numaplane.controller.cli.main import cli
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import state_pb2
from tests.support.cluster import (
    Controller,
    controller_settings,
    running_agents,
    sim_agent,
    wait_for,
)

pytestmark = pytest.mark.integration


def run_cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


async def cli_json(address: str, *args: str) -> object:
    code, out, err = await asyncio.to_thread(
        run_cli, "--controller", address, *args, "--output", "json"
    )
    assert code == 0, err
    return json.loads(out)


async def host_states(address: str) -> dict[str, str]:
    hosts = await cli_json(address, "hosts")
    assert isinstance(hosts, list)
    return {h["name"]: h["state"] for h in hosts}


async def test_agents_appear_in_etcd_and_cli(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with Controller(settings) as ctl, running_agents() as agents:
        for i in range(3):
            agents.start(sim_agent(f"h{i}", settings, i, vms=2))

        async def all_reported() -> bool:
            kvs, _ = await store.get_prefix(keyspace.VMS)
            return len(kvs) == 6

        await wait_for(all_reported)
        hosts = await cli_json(ctl.settings.admin_address, "hosts")
        assert isinstance(hosts, list)
        by_name = {h["name"]: h for h in hosts}
        assert set(by_name) == {"h0", "h1", "h2"}
        assert all(h["state"] == "up" and h["vm_count"] == 2 for h in hosts)
        assert len(by_name["h1"]["nodes"]) == 4  # the mix: 2-node and 4-node hosts
        assert by_name["h1"]["distances"][0] == [10, 11, 21, 21]
        vms = await cli_json(ctl.settings.admin_address, "vms")
        assert isinstance(vms, list) and len(vms) == 6
        for vm in vms:
            assert vm["state"] == "running"
            assert sum(vm["memory_by_node"].values()) == vm["memory_bytes"]
            assert 0.0 <= vm["locality"] <= 1.0


async def test_stopped_agent_shows_down_within_ttl_and_vms_unknown(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace, host_lease_ttl_s=3)
    async with Controller(settings) as ctl, running_agents() as agents:
        agents.start(sim_agent("a", settings, 0))
        agents.start(sim_agent("b", settings, 1))
        addr = ctl.settings.admin_address

        async def both_up() -> bool:
            return await host_states(addr) == {"a": "up", "b": "up"}

        await wait_for(both_up)
        await wait_for(lambda: _has_vms(store, 4))
        await agents.stop("a")
        stopped = time.monotonic()

        async def a_down() -> bool:
            return (await host_states(addr)).get("a") == "down"

        await wait_for(a_down, timeout=settings.host_lease_ttl_s + 5)
        assert time.monotonic() - stopped <= settings.host_lease_ttl_s + 1
        vms = await cli_json(addr, "vms")
        assert isinstance(vms, list)
        states = {v["name"]: v["state"] for v in vms}
        assert {s for n, s in states.items() if n.startswith("a-")} == {"unknown"}
        assert {s for n, s in states.items() if n.startswith("b-")} == {"running"}
        # Nothing was deleted: the down host keeps its info and its VMs' last status.
        assert await store.get(keyspace.host_info("a")) is not None


async def _has_vms(store: EtcdStore, n: int) -> bool:
    kvs, _ = await store.get_prefix(keyspace.VMS)
    return len(kvs) == n


async def test_hung_controller_lease_expires_without_revoke(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    """A replica that vanishes without revoking: the host goes down when the lease expires."""
    settings = controller_settings(etcd.endpoint, store.settings.namespace, host_lease_ttl_s=2)
    alive = keyspace.host_alive("h")
    async with running_agents() as agents:
        ctl = Controller(settings)
        await ctl.__aenter__()
        agents.start(sim_agent("h", settings, 0))
        await wait_for(lambda: _exists(store, alive))
        # Stop the replica while the agent is connected, as in a handover: the liveness
        # lease is not revoked (the agent has nowhere to reconnect to, so nobody renews).
        await ctl.stop(handover=True)
        stopped = time.monotonic()
        assert await store.get(alive) is not None, "a handover must not revoke the lease"
        await wait_for(lambda: _absent(store, alive), timeout=settings.host_lease_ttl_s + 5)
        # Gone by expiry, not by a revoke: it outlived the stop by about the TTL.
        assert time.monotonic() - stopped >= settings.host_lease_ttl_s / 2


async def _exists(store: EtcdStore, key: str) -> bool:
    return await store.get(key) is not None


async def _absent(store: EtcdStore, key: str) -> bool:
    return await store.get(key) is None


async def test_controller_restart_loses_nothing(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with running_agents() as agents:
        async with Controller(settings):
            for i in range(2):
                agents.start(sim_agent(f"r{i}", settings, i, vms=3))
            await wait_for(lambda: _has_vms(store, 6))
        before, _ = await store.get_prefix(keyspace.VMS)
        # A new replica on the same addresses: the agents come back by themselves.
        async with Controller(settings) as ctl:
            await wait_for(lambda: _sessions(ctl, 2))
            states = await host_states(ctl.settings.admin_address)
            assert states == {"r0": "up", "r1": "up"}
            after, _ = await store.get_prefix(keyspace.VMS)
            assert [kv.key for kv in after] == [kv.key for kv in before]


async def _sessions(ctl: Controller, n: int) -> bool:
    return len(ctl.sessions.all()) == n


async def test_command_for_disconnected_agent_is_delivered_once(
    etcd: EmbeddedEtcd, store: EtcdStore, tmp_path: Path
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with Controller(settings) as ctl, running_agents() as agents:
        agent = agents.start(sim_agent("c", settings, 0, state_dir=tmp_path))
        await wait_for(lambda: _sessions(ctl, 1))
        await agents.stop("c")
        await wait_for(lambda: _sessions(ctl, 0))
        code, out, err = await asyncio.to_thread(
            run_cli, "--controller", ctl.settings.admin_address, "host", "ping", "c"
        )
        assert code == 0, err
        match = re.search(r"\(request (\w+)\)", out)
        assert match, out
        request_id = match.group(1)

        async def journaled_pending() -> bool:
            kvs, _ = await store.get_prefix(keyspace.host_commands("c"))
            return len(kvs) == 1

        await wait_for(journaled_pending)
        # The agent comes back (same state dir, a new process as far as it knows).
        agent = agents.start(sim_agent("c", settings, 0, state_dir=tmp_path, backend=agent.backend))  # type: ignore[arg-type]

        async def applied() -> bool:
            kvs, _ = await store.get_prefix(keyspace.host_commands("c"))
            return bool(kvs) and decode(state_pb2.JournalEntry, kvs[0].value).state == "applied"

        await wait_for(applied)
        kvs, _ = await store.get_prefix(keyspace.host_commands("c"))
        entry = decode(state_pb2.JournalEntry, kvs[0].value)
        assert entry.request_id == request_id
        assert entry.send_count == 1 and not entry.duplicate
        assert entry.message.startswith("pong")
        assert len(agent.applied) == 1


async def test_unanswered_command_is_resent_and_not_applied_twice(
    etcd: EmbeddedEtcd, store: EtcdStore, tmp_path: Path
) -> None:
    """A command marked sent whose result was lost is re-sent after a reconnect; the agent
    recognises the id and answers with its stored result instead of acting again."""
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with Controller(settings) as ctl, running_agents() as agents:
        agent = agents.start(sim_agent("d", settings, 0, state_dir=tmp_path))
        await wait_for(lambda: _sessions(ctl, 1))
        code, _out, err = await asyncio.to_thread(
            run_cli, "--controller", ctl.settings.admin_address, "host", "ping", "d", "--wait"
        )
        assert code == 0, err
        await agents.stop("d")
        kvs, _ = await store.get_prefix(keyspace.host_commands("d"))
        entry = decode(state_pb2.JournalEntry, kvs[0].value)
        assert entry.state == "applied"
        # Make it look as if the result never arrived.
        entry.state = "sent"
        entry.message = ""
        await store.put(kvs[0].key, encode(entry))
        agents.start(sim_agent("d", settings, 0, state_dir=tmp_path, backend=agent.backend))  # type: ignore[arg-type]

        async def finished_again() -> bool:
            kv = await store.get(kvs[0].key)
            assert kv is not None
            return decode(state_pb2.JournalEntry, kv.value).state == "applied"

        await wait_for(finished_again)
        kv = await store.get(kvs[0].key)
        assert kv is not None
        again = decode(state_pb2.JournalEntry, kv.value)
        assert again.duplicate, "the agent must recognise the id it already applied"
        assert again.send_count == 2
