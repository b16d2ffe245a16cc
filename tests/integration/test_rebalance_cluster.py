"""Rebalancing end to end on the real path: sim agents -> gRPC -> controller -> etcd -> CLI.

Every part is production code (the controller's loops, the journal, the agents'
executors and movers over simulated hosts); only the hosts are simulated, and two of
them share a `SimFabric` so that a live migration has somewhere to go.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from numaplane.common.units import GiB, MiB
from numaplane.controller.cli.main import cli as numaplane_cli
from numaplane.controller.policy.config import decode_policy, encode_policy
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimHost,
    SimHostSpec,
    SimNodeSpec,
)
from numaplane.hostagent.drivers.sim.fabric import SimFabric
from numaplane.v1.state_pb2 import HostLedger, JournalEntry, VmMove, VmPlacement, VmStatus
from tests.support.cluster import Controller, Running, controller_settings, sim_agent, wait_for

pytestmark = pytest.mark.integration


def host_spec(name: str) -> SimHostSpec:
    return SimHostSpec(
        name=name,
        nodes=(SimNodeSpec(cpus=2, memory_bytes=4 * GiB),) * 2,
        distances=((10, 21), (21, 10)),
    )


def misplaced(sim: SimHost, name: str, size: int = GiB) -> None:
    """Memory on node 0, vCPUs bound to node 1: locality 0."""
    sim.start_vm(name, 1, size, cpus=sim.spec.cpus_of_node(1), binding=MemoryBinding.strict([0]))


async def set_policy(store: EtcdStore, **rebalance: float | bool) -> None:
    policy = decode_policy(None)
    for key, value in rebalance.items():
        setattr(policy.rebalance, key, value)
    await store.put(keyspace.POLICY, encode_policy(policy))


async def entries(store: EtcdStore, host: str) -> list[JournalEntry]:
    kvs, _ = await store.get_prefix(keyspace.host_commands(host))
    return [decode(JournalEntry, kv.value) for kv in kvs]


async def placement(store: EtcdStore, vm: str) -> VmPlacement:
    kv = await store.get(keyspace.vm_placement(vm))
    assert kv is not None
    return decode(VmPlacement, kv.value)


async def status(store: EtcdStore, vm: str) -> VmStatus | None:
    kv = await store.get(keyspace.vm_status(vm))
    return decode(VmStatus, kv.value) if kv is not None else None


async def cli(*args: str) -> tuple[int, str, str]:
    """The numaplane CLI in a worker thread (the loop keeps serving meanwhile)."""
    result = await asyncio.to_thread(CliRunner().invoke, numaplane_cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


@dataclass
class Hosts:
    a: SimHost
    b: SimHost
    backend_a: SimBackend
    backend_b: SimBackend


@pytest.fixture
def hosts() -> Hosts:
    a, b = SimHost(host_spec("a"), seed=1), SimHost(host_spec("b"), seed=2)
    backend_a, backend_b = SimBackend(a), SimBackend(b)
    fabric = SimFabric()
    fabric.join(backend_a)
    fabric.join(backend_b)
    return Hosts(a, b, backend_a, backend_b)


@pytest.fixture
async def settings(etcd: EmbeddedEtcd, store: EtcdStore) -> ControllerSettings:
    return controller_settings(etcd.endpoint, store.settings.namespace)


@pytest.fixture
async def agents() -> AsyncIterator[Running]:
    running = Running()
    try:
        yield running
    finally:
        await running.stop_all()


def agent(name: str, settings: ControllerSettings, backend: SimBackend, state: Path) -> Agent:
    return sim_agent(name, settings, backend=backend, state_dir=state / name)


async def test_the_leader_moves_a_misplaced_vm_with_progress_and_a_cooldown_record(
    store: EtcdStore, settings: ControllerSettings, hosts: Hosts, agents: Running, tmp_path: Path
) -> None:
    misplaced(hosts.a, "web")
    await set_policy(store, period_s=0.3, bandwidth_mib_s=512)
    async with Controller(settings):
        agents.start(agent("a", settings, hosts.backend_a, tmp_path))

        async def local() -> bool:
            s = await status(store, "web")
            return s is not None and s.observed.locality >= 0.95

        await wait_for(local)
        [entry] = [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]
        assert entry.state == "applied", entry.message
        assert list(entry.command.migrate_memory.to_nodes) == [1]
        assert entry.command.migrate_memory.rate_mib_s == 512
        assert "moved 1G of web to nodes 1" in entry.message
        assert entry.progress > 0  # CommandProgress from the agent, stored while it ran
        move = decode(VmMove, (await store.get(keyspace.vm_move("web"))).value)  # type: ignore[union-attr]
        assert (move.kind, move.host, move.command_id) == ("migrate-memory", "a", entry.id)
        assert "locality 0% < 90%" in move.reason
        assert hosts.a.vm("web").memory_by_node == {1: GiB}


async def test_rebalancing_off_until_an_operator_asks_then_dry_run_and_now(
    store: EtcdStore, settings: ControllerSettings, hosts: Hosts, agents: Running, tmp_path: Path
) -> None:
    misplaced(hosts.a, "db", size=512 * MiB)
    await set_policy(store, enabled=False, period_s=0.3)
    async with Controller(settings) as ctl:
        agents.start(agent("a", settings, hosts.backend_a, tmp_path))

        async def observed() -> bool:
            return await status(store, "db") is not None

        await wait_for(observed)
        address = f"127.0.0.1:{ctl.admin_port}"
        code, out, err = await cli("--controller", address, "rebalance", "--dry-run", "-o", "json")
        assert code == 0, err
        plan = json.loads(out)
        assert [(m["vm"], m["kind"], m["to_nodes"]) for m in plan["moves"]] == [
            ("db", "migrate-memory", [1])
        ]
        assert "periodic rebalancing is off" in plan["message"]
        await asyncio.sleep(1.0)  # several periods: nothing moves while it is off
        assert not [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]

        code, out, err = await cli("--controller", address, "rebalance", "now")
        assert code == 0, err
        assert "pass requested" in out and "db" in out

        async def moved() -> bool:
            return hosts.a.vm("db").memory_by_node == {1: 512 * MiB}

        await wait_for(moved)
        code, out, _ = await cli("--controller", address, "rebalance")
        assert code == 2 and "--dry-run" in _


async def test_manual_moves_memory_then_host_and_a_refusal(
    store: EtcdStore, settings: ControllerSettings, hosts: Hosts, agents: Running, tmp_path: Path
) -> None:
    hosts.a.start_vm("app", 1, GiB, cpus=hosts.a.spec.cpus_of_node(0),
                     binding=MemoryBinding.strict([0]))  # fmt: skip
    await set_policy(store, enabled=False)
    async with Controller(settings) as ctl:
        agents.start(agent("a", settings, hosts.backend_a, tmp_path))
        agents.start(agent("b", settings, hosts.backend_b, tmp_path))

        async def seen() -> bool:
            s = await status(store, "app")
            b = await store.get(keyspace.host_info("b"))
            return s is not None and b is not None

        await wait_for(seen)
        address = f"127.0.0.1:{ctl.admin_port}"
        code, out, err = await cli(
            "--controller", address, "vm", "migrate", "app", "--nodes", "1", "--wait"
        )
        assert code == 0, err
        assert "the move of app was applied: moved 1G of app to nodes 1" in out
        assert hosts.a.vm("app").memory_by_node == {1: GiB}

        code, out, err = await cli("--controller", address, "vm", "migrate", "app", "--nodes", "7")
        assert code == 1 and "has no node 7" in err

        code, out, err = await cli(
            "--controller", address, "vm", "migrate", "app", "--host", "b", "--wait"
        )
        assert code == 0, err
        assert "live-migrated app (1G) to b nodes" in out
        assert not hosts.a.has_vm("app") and hosts.b.vm("app").resident_bytes == GiB

        async def on_b() -> bool:
            s = await status(store, "app")
            return s is not None and s.host == "b"

        await wait_for(on_b)
        move = decode(VmMove, (await store.get(keyspace.vm_move("app"))).value)  # type: ignore[union-attr]
        assert move.manual and move.kind == "live-migrate" and move.to_host == "b"
        # The migration claimed its room on b (the only claim ever made there), and the
        # leader released it once b's status counted app.
        ledger = decode(HostLedger, (await store.get(keyspace.ledger("b"))).value)  # type: ignore[union-attr]
        assert (ledger.claims_made, ledger.last_vm) == (1, "app")

        async def released() -> bool:
            kvs, _ = await store.get_prefix(keyspace.CLAIMS)
            return not kvs

        await wait_for(released)


async def test_a_placed_vm_moved_to_another_host_has_its_placement_follow(
    store: EtcdStore, settings: ControllerSettings, hosts: Hosts, agents: Running, tmp_path: Path
) -> None:
    await set_policy(store, enabled=False)
    async with Controller(settings) as ctl:
        agents.start(agent("a", settings, hosts.backend_a, tmp_path))
        agents.start(agent("b", settings, hosts.backend_b, tmp_path))

        async def both_up() -> bool:
            return all([await store.get(keyspace.host_alive(h)) for h in ("a", "b")])

        await wait_for(both_up)
        address = f"127.0.0.1:{ctl.admin_port}"
        code, out, err = await cli("--controller", address, "vm", "create", "web", "--vcpus",
                                   "1", "--memory", "1G", "--host", "a", "--wait")
        assert code == 0, err
        before = await placement(store, "web")
        assert before.host == "a" and before.state == "running"

        code, out, err = await cli(
            "--controller", address, "vm", "migrate", "web", "--host", "b", "--wait"
        )
        assert code == 0, err
        assert hosts.b.vm("web").resident_bytes == GiB

        async def followed() -> bool:
            p = await placement(store, "web")
            kvs, _ = await store.get_prefix(keyspace.CLAIMS)
            return p.host == "b" and not kvs

        await wait_for(followed)
        after = await placement(store, "web")
        assert after.reason.startswith("moved by the operator: live-migrate web (1G) to b nodes")
        assert list(after.reasons) == list(before.reasons)
        assert set(hosts.b.vm("web").memory_by_node) <= set(after.nodes)
        code, out, err = await cli("--controller", address, "explain", "vm", "web",
                                   "--output", "json")
        assert code == 0, err
        assert json.loads(out)["host"] == "b"

        # Deleting it stops it where it now runs, and removes its records, move included.
        assert await store.get(keyspace.vm_move("web")) is not None
        code, out, err = await cli("--controller", address, "vm", "delete", "web")
        assert code == 0, err

        async def removed() -> bool:
            keys = (keyspace.vm_spec("web"), keyspace.vm_placement("web"),
                    keyspace.vm_move("web"))  # fmt: skip
            return all([await store.get(k) is None for k in keys]) and not any(
                vm.name == "web" for vm in hosts.b.vms()
            )

        await wait_for(removed)


async def test_a_migration_interrupted_by_an_agent_restart_is_applied_once(
    store: EtcdStore, settings: ControllerSettings, hosts: Hosts, agents: Running, tmp_path: Path
) -> None:
    misplaced(hosts.a, "big", size=GiB)
    await set_policy(store, period_s=0.3, bandwidth_mib_s=256)  # 4 s for 1 GiB
    async with Controller(settings):
        first = agents.start(agent("a", settings, hosts.backend_a, tmp_path))

        async def halfway() -> bool:
            found = [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]
            return bool(found) and found[0].progress > 0.1

        await wait_for(halfway)
        await agents.stop("a")  # the agent dies in the middle of the copy
        assert first.long_commands is not None
        partial = hosts.a.vm("big").memory_by_node
        assert 0 < partial.get(1, 0) < GiB
        [entry] = [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]
        assert entry.state == "sent"

        second = agents.start(agent("a", settings, hosts.backend_a, tmp_path))

        async def applied() -> bool:
            [e] = [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]
            return e.state == "applied"

        await wait_for(applied)
        [done] = [e for e in await entries(store, "a") if e.command.HasField("migrate_memory")]
        assert not done.duplicate and done.send_count >= 2
        assert second.long_commands is not None and second.long_commands.started == 1
        assert hosts.a.vm("big").memory_by_node == {1: GiB}
        assert hosts.a.vm("big").migrated_bytes_total == GiB  # each byte copied once
        applied_log = (tmp_path / "a" / "applied-commands.jsonl").read_text().splitlines()
        assert [json.loads(line)["id"] for line in applied_log].count(done.id) == 1
