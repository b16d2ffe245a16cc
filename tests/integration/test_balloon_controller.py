"""The controller's side of balloons on the real path: CLI -> admin API -> etcd ->
balloon loop -> journal -> agent link -> sim agent, and the policy knobs.

Each test runs a real Controller (grpc.aio servers on loopback, EtcdStore on a real
etcd) with sim agents. The leader runs only the reconciler's own loops and the balloon
loop: VM specs written here stand for VMs already placed, which this file does not
exercise. The CLI runs as a plain program in a worker thread (as in test_cli.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager

import pytest
from click.testing import CliRunner, Result

from numaplane.common.units import GiB, MiB
from numaplane.controller.cli.main import cli
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store import ClusterStore
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.drivers.sim import SimBackend, SimHost
from numaplane.hostagent.drivers.sim.spec import SimHostSpec, SimNodeSpec
from numaplane.v1 import state_pb2
from tests.support.admin_cluster import put_vm, vm_status
from tests.support.cluster import (
    Controller,
    Running,
    controller_settings,
    running_agents,
    sim_agent,
    wait_for,
)

pytestmark = pytest.mark.integration

PERIOD_S = 0.3


async def numaplane(*args: str) -> Result:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


@asynccontextmanager
async def balloon_controller(settings: ControllerSettings) -> AsyncIterator[Controller]:
    """A controller whose leader runs the reconciler's own loops and the balloon loop."""
    ctl = Controller(settings)
    keep = (ctl.reconciler, ctl.reconciler.balloons)
    ctl.reconciler.loops[:] = [
        loop for loop in ctl.reconciler.loops if getattr(loop, "__self__", None) in keep
    ]
    async with ctl:
        yield ctl


@asynccontextmanager
async def cluster(
    etcd: EmbeddedEtcd, store: EtcdStore, **agents: SimBackend | None
) -> AsyncIterator[tuple[Controller, Running, str]]:
    settings = controller_settings(etcd.endpoint, store.settings.namespace,
                                   balloon_period_s=PERIOD_S)
    async with balloon_controller(settings) as ctl, running_agents() as running:
        for i, (host, backend) in enumerate(agents.items()):
            running.start(sim_agent(host, settings, i, vms=2, backend=backend))
        yield ctl, running, f"127.0.0.1:{ctl.admin_port}"


async def balloon_commands(store: ClusterStore, vm: str) -> list[state_pb2.JournalEntry]:
    kvs, _ = await store.get_prefix(keyspace.COMMANDS)
    entries = [decode(state_pb2.JournalEntry, kv.value, key=kv.key) for kv in kvs]
    return [e for e in entries
            if e.command.WhichOneof("kind") == "set_balloon" and e.command.set_balloon.vm == vm]


async def observed(store: ClusterStore, vm: str) -> state_pb2.VmStatus | None:
    kv = await store.get(keyspace.vm_status(vm))
    return None if kv is None else decode(state_pb2.VmStatus, kv.value, key=kv.key)


async def wait_observed(store: ClusterStore, *vms: str) -> None:
    async def seen() -> bool:
        for vm in vms:
            status = await observed(store, vm)
            if status is None or not status.observed.balloon.known:
                return False
        return True

    await wait_for(seen)


def sim_target(running: Running, host: str, vm: str) -> int:
    backend = running.agents[host].backend
    assert isinstance(backend, SimBackend)
    return backend.with_host(lambda h: h.vm(vm).balloon_target_bytes)


async def put_spec(
    store: ClusterStore, name: str, memory: int, *, reservation_bytes: int = 0,
    limit_bytes: int = 0, shares: int = 0,
) -> None:
    """A VmSpec as CreateVm writes it, for a VM that is already running."""
    spec = state_pb2.VmSpec(
        name=name, vcpus=2, memory_bytes=memory, created_at=1.0,
        reservation_bytes=reservation_bytes, limit_bytes=limit_bytes, shares=shares,
    )
    await store.put(keyspace.vm_spec(name), encode(spec))


async def test_balloon_set_through_the_cli_reaches_the_sim_guest_once(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with cluster(etcd, store, h0=None) as (ctl, running, address):
        await wait_observed(store, "h0-vm0")
        result = await numaplane("--controller", address, "balloon", "set", "h0-vm0", "768M",
                                 "--wait")
        assert result.exit_code == 0, result.output
        assert "768M applied on h0" in result.stdout
        assert sim_target(running, "h0", "h0-vm0") == 768 * MiB

        # Level-triggered but not repeated: more periods pass, still one command.
        async def reported() -> bool:
            status = await observed(store, "h0-vm0")
            return status is not None and status.observed.balloon.target_bytes == 768 * MiB

        await wait_for(reported)
        await asyncio.sleep(4 * PERIOD_S)
        (entry,) = await balloon_commands(store, "h0-vm0")
        assert entry.state == "applied" and not entry.duplicate
        assert entry.command.epoch == ctl.election.epoch

        shown = await numaplane("--controller", address, "balloon", "show", "h0-vm0",
                                "-o", "json")
        assert shown.exit_code == 0, shown.output
        row = json.loads(shown.stdout)
        assert row["target_bytes"] == row["actual_bytes"] == row["requested_bytes"] == 768 * MiB
        assert row["driver"] == "sim" and row["capabilities"]["guest_stats"]
        assert row["auto"] is False and row["max_bytes"] == 1 * GiB
        assert row["command"]["state"] == "applied"
        assert row["guest"]["usable_bytes"] <= 768 * MiB
        table = await numaplane("--controller", address, "balloon", "show")
        assert table.exit_code == 0, table.output
        header, *rows = table.stdout.splitlines()
        assert header.split()[:4] == ["VM", "HOST", "TARGET", "ACTUAL"]
        assert rows[0].split()[:4] == ["h0-vm0", "h0", "768M", "768M"]
        assert rows[1].split()[:4] == ["h0-vm1", "h0", "1G", "1G"]
        detail = await numaplane("--controller", address, "balloon", "show", "h0-vm0")
        assert "Capabilities" in detail.stdout and "stats" in detail.stdout
        assert "applied 768M" in detail.stdout

        # The VM had no spec: the target lives in a balloon intent record.
        kv = await store.get(keyspace.vm_balloon("h0-vm0"))
        assert kv is not None
        assert decode(state_pb2.BalloonIntent, kv.value).target_bytes == 768 * MiB


async def test_refused_targets_change_nothing(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    async with cluster(etcd, store, h0=None) as (_, running, address):
        await wait_observed(store, "h0-vm0", "h0-vm1")
        await put_spec(store, "h0-vm0", 1 * GiB, reservation_bytes=512 * MiB,
                       limit_bytes=896 * MiB, shares=1000)
        ghost = vm_status("ghost", "hv-gone", {0: 1 * GiB})  # its driver has no balloon
        await put_vm(store, ghost)
        before, _ = await store.get_prefix(keyspace.ROOT)
        spec_before = {kv.key: kv.mod_revision for kv in before if kv.key.endswith("/spec")}

        cases = [
            (("h0-vm0", "256M"), "below VM 'h0-vm0''s reservation 512M"),
            (("h0-vm0", "1000M"), "above VM 'h0-vm0''s limit 896M"),
            (("h0-vm1", "2G"), "above VM 'h0-vm1''s maximum memory 1G"),
            (("ghost", "512M"), "has no balloon"),
            (("nobody", "512M"), "unknown VM 'nobody'"),
        ]
        for (vm, size), message in cases:
            result = await numaplane("--controller", address, "balloon", "set", vm, size)
            assert result.exit_code == 1, result.output
            assert message in one_line(result.stderr)
        bad = await numaplane("--controller", address, "balloon", "set", "h0-vm0", "lots")
        assert bad.exit_code == 2 and "cannot parse size" in one_line(bad.stderr)

        await asyncio.sleep(3 * PERIOD_S)
        after, _ = await store.get_prefix(keyspace.ROOT)
        assert {kv.key: kv.mod_revision for kv in after if kv.key.endswith("/spec")} == spec_before
        assert not [kv for kv in after if kv.key.endswith("/balloon")]
        for vm in ("h0-vm0", "h0-vm1", "ghost"):
            assert await balloon_commands(store, vm) == []
        assert sim_target(running, "h0", "h0-vm0") == sim_target(running, "h0", "h0-vm1") == GiB

        # Within bounds the same VM is fine, and its spec carries the target.
        ok = await numaplane("--controller", address, "balloon", "set", "h0-vm0", "640M",
                             "--wait")
        assert ok.exit_code == 0, ok.output
        kv = await store.get(keyspace.vm_spec("h0-vm0"))
        assert kv is not None
        assert decode(state_pb2.VmSpec, kv.value).balloon_target_bytes == 640 * MiB


async def test_policy_get_and_set_validate_the_whole_policy(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with cluster(etcd, store) as (_, _, address):
        got = await numaplane("--controller", address, "policy", "get")
        assert got.exit_code == 0, got.output
        lines = dict(line.split(None, 1) for line in got.stdout.splitlines())
        assert lines["balloon.pressure_free_fraction"] == "0.2"
        assert lines["balloon.critical_free_fraction"] == "0.05"
        assert lines["balloon.enabled"] == "true"

        bad = await numaplane("--controller", address, "policy", "set",
                              "balloon.idle_tax=0.5", "balloon.pressure_free_fraction=0.4")
        assert bad.exit_code == 1
        assert "pressure_free_fraction < relief_free_fraction" in one_line(bad.stderr)
        unknown = await numaplane("--controller", address, "policy", "set", "balloon.speed=9")
        assert unknown.exit_code == 1 and "unknown key 'balloon.speed'" in one_line(unknown.stderr)
        assert await store.get(keyspace.POLICY) is None  # nothing was written

        ok = await numaplane("--controller", address, "policy", "set",
                             "balloon.relief_free_fraction=0.35", "balloon.max_step_bytes=1G",
                             "-o", "json")
        assert ok.exit_code == 0, ok.output
        assert json.loads(ok.stdout)["balloon"]["relief_free_fraction"] == 0.35
        kv = await store.get(keyspace.POLICY)
        assert kv is not None
        revision = kv.mod_revision

        off = await numaplane("--controller", address, "balloon", "auto", "off")
        assert off.exit_code == 0 and "off cluster-wide" in off.stdout
        after = await numaplane("--controller", address, "policy", "get", "-o", "yaml")
        assert "enabled: false" in after.stdout and "relief_free_fraction: 0.35" in after.stdout
        again = await numaplane("--controller", address, "policy", "set",
                                "balloon.critical_free_fraction=0.3")
        assert again.exit_code == 1
        kv = await store.get(keyspace.POLICY)
        assert kv is not None and kv.mod_revision > revision
        stored = json.loads(kv.value)["balloon"]
        assert stored["enabled"] is False and stored["critical_free_fraction"] == 0.05


def pressured_host(name: str) -> SimBackend:
    """Two nodes of 4 GiB; four VMs fill 7.5 of its 8 GiB, each using 512 MiB of it."""
    spec = SimHostSpec(
        name=name,
        nodes=tuple(SimNodeSpec(cpus=4, memory_bytes=4 * GiB) for _ in range(2)),
        distances=((10, 21), (21, 10)),
    )
    sim = SimHost(spec, seed=1)
    for vm, size in (("a", 2 * GiB), ("b", 2 * GiB), ("c", 2 * GiB), ("d", 1536 * MiB)):
        sim.start_vm(vm, 1, size, working_set_bytes=512 * MiB)
    sim.advance(1.0)
    return SimBackend(sim)


def free_fraction(running: Running, host: str) -> float:
    backend = running.agents[host].backend
    assert isinstance(backend, SimBackend)
    free = backend.with_host(lambda h: sum(h.free_by_node().values()))
    return free / (8 * GiB)


async def test_auto_loop_relieves_a_pressured_host_within_reservations(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    reservations: Mapping[str, int] = {"a": 1920 * MiB, "b": 1 * GiB, "c": 1 * GiB}
    async with cluster(etcd, store, hp=pressured_host("hp")) as (ctl, running, address):
        assert free_fraction(running, "hp") < 0.10
        await wait_observed(store, "a", "b", "c", "d")
        for vm, reservation in reservations.items():
            await put_spec(store, vm, 2 * GiB, reservation_bytes=reservation, shares=1000)
        # d has no spec: reservation 0, limit = its maximum, auto off until turned on.
        for vm in ("a", "b", "c", "d"):
            result = await numaplane("--controller", address, "balloon", "auto", "on", vm)
            assert result.exit_code == 0, result.output

        async def relieved() -> bool:
            return free_fraction(running, "hp") >= 0.20

        await wait_for(relieved)
        journaled = {vm: await balloon_commands(store, vm) for vm in ("a", "b", "c", "d")}
        for vm, entries in journaled.items():
            for entry in entries:
                assert entry.command.set_balloon.target_bytes >= reservations.get(vm, 0), entry
                assert entry.command.epoch == ctl.election.epoch
            assert sim_target(running, "hp", vm) >= reservations.get(vm, 0)
        # Everyone with room gave something; a, 128 MiB above its reservation, at most that.
        assert all(journaled[vm] for vm in ("b", "c", "d"))
        assert sim_target(running, "hp", "a") >= 1920 * MiB
        assert all(e.state in ("pending", "sent", "applied")
                   for entries in journaled.values() for e in entries)
