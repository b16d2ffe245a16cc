"""`numaplane vm create|delete`, `explain vm`, `host cordon|drain|uncordon` against a real
controller with sim agents: every bad input is one line, a non-zero exit and nothing
stored; good input places, explains and removes."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from click.testing import CliRunner

from numaplane.common.units import GiB
from numaplane.controller.cli.main import cli
from numaplane.controller.state import keyspace
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.drivers.sim import MemoryBinding, SimBackend
from tests.support.cluster import Controller, controller_settings, running_agents, sim_agent
from tests.support.cluster import wait_for as wait_until
from tests.support.placement import small_host

pytestmark = pytest.mark.integration


def _run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@asynccontextmanager
async def controller(etcd: EmbeddedEtcd, store: EtcdStore) -> AsyncIterator[str]:
    """A controller with two empty 2-node hosts (4 CPUs, 4G a node) and one VM started
    outside numaplane ("legacy" on h1); yields the admin address."""
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    h0, h1 = small_host("h0"), small_host("h1")
    h1.start_vm("legacy", 1, GiB, cpus=(4,), binding=MemoryBinding.strict([1]))
    async with Controller(settings) as _, running_agents() as agents:
        agents.start(sim_agent("h0", settings, backend=SimBackend(h0)))
        agents.start(sim_agent("h1", settings, backend=SimBackend(h1)))

        async def seen() -> bool:
            kvs, _ = await store.get_prefix(keyspace.HOSTS)
            alive = {kv.key for kv in kvs if kv.key.endswith("/alive")}
            return len(alive) == 2 and await store.get(keyspace.vm_status("legacy")) is not None

        await wait_until(seen)
        yield settings.admin_address


async def cli_run(address: str, *args: str) -> tuple[int, str, str]:
    return await asyncio.to_thread(_run, "--controller", address, *args)


BAD_INPUT = [
    # (arguments after `vm create`, exit code, the one line's text)
    (["x", "--vcpus", "1", "--memory", "4Q"], 2, "unknown unit in size '4Q'"),
    (["x", "--vcpus", "1", "--memory", "0"], 2, "size '0' must be greater than zero"),
    (["x", "--vcpus", "1", "--memory", "-1G"], 2, "cannot parse size '-1G'"),
    (["x", "--vcpus", "1", "--memory", "lots"], 2, "cannot parse size 'lots'"),
    (["x", "--vcpus", "0", "--memory", "1G"], 2, "0 is not in the range x>=1"),
    (["x", "--vcpus", "1", "--memory", "4G", "--reservation", "8G"], 1,
     "reservation 8G is above the memory size 4G"),
    (["x", "--vcpus", "1", "--memory", "4G", "--limit", "8G"], 1,
     "limit 8G is above the memory size 4G"),
    (["x", "--vcpus", "1", "--memory", "4G", "--limit", "2G", "--reservation", "3G"], 1,
     "reservation 3G is above the limit 2G"),
    (["x", "--vcpus", "99", "--memory", "1G"], 1,
     "99 vCPUs: no host has that many CPUs (the largest has 8)"),
    (["x", "--vcpus", "1", "--memory", "1G", "--host", "nope"], 1, "unknown host 'nope'"),
    (["x", "--vcpus", "1", "--memory", "1G", "--host", "h0", "--nodes", "5"], 1,
     "host h0 has no node 5 (its nodes: 0,1)"),
    (["x", "--vcpus", "6", "--memory", "1G", "--host", "h0", "--nodes", "1"], 1,
     "6 vCPUs: nodes 1 of host h0 have 4 CPUs"),
    (["x", "--vcpus", "1", "--memory", "1G", "--nodes", "0"], 2, "--nodes needs --host"),
    (["x", "--vcpus", "1", "--memory", "1G", "--host", "h0", "--nodes", "0,0"], 2,
     "node 0 is given twice"),
    (["x", "--vcpus", "1", "--memory", "1G", "--anti-affinity"], 2,
     "--anti-affinity needs --group"),
    (["x", "--vcpus", "1", "--memory", "1G", "--policy", "best"], 2, "'best' is not one of"),
    (["bad/name", "--vcpus", "1", "--memory", "1G"], 2, "is not a valid name"),
    (["legacy", "--vcpus", "1", "--memory", "1G"], 1,
     "a VM named 'legacy' already runs on host h1"),
]


async def test_bad_input_is_one_line_nonzero_and_stores_nothing(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with controller(etcd, store) as address:
        for args, code, text in BAD_INPUT:
            got, out, err = await cli_run(address, "vm", "create", *args)
            assert got == code, (args, out, err)
            assert out == "", (args, out)
            lines = err.strip().splitlines()
            assert len(lines) == 1 and lines[0].startswith("numaplane: "), (args, err)
            assert text in lines[0], (args, lines[0])
        kvs, _ = await store.get_prefix(keyspace.VMS)
        assert [kv.key for kv in kvs if not kv.key.endswith("/status")] == []

        # A duplicate name: the first create is stored, the second refused.
        assert (await cli_run(address, "vm", "create", "dup", "--vcpus", "1",
                              "--memory", "512M"))[0] == 0
        code, _, err = await cli_run(address, "vm", "create", "dup", "--vcpus", "1",
                                     "--memory", "1G")
        assert code == 1 and err.strip() == "numaplane: VM 'dup' already exists"
        spec = await store.get(keyspace.vm_spec("dup"))
        assert spec is not None and '"memoryBytes": "536870912"' in spec.value


async def test_create_wait_explain_cordon_delete(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    async with controller(etcd, store) as address:
        code, out, err = await cli_run(address, "host", "cordon", "h1")
        assert (code, out.strip()) == (0, "host h1: cordoned (no new VMs)"), err

        code, out, err = await cli_run(address, "vm", "create", "web", "--vcpus", "2",
                                       "--memory", "3GiB", "--wait")
        assert code == 0, err
        lines = out.strip().splitlines()
        assert lines[0] == "VM web created: 2 vCPUs, 3G; pending placement"
        assert lines[1].startswith("VM web running on h0 (memory on nodes ")

        code, out, err = await cli_run(address, "explain", "vm", "web")
        assert code == 0, err
        assert out.startswith("VM web: running on h0 nodes ")
        assert "(policy numaplane" in out and "chosen" in out
        assert "rejected: not schedulable (state cordoned)" in out
        code, out, _ = await cli_run(address, "explain", "vm", "web", "-o", "json")
        doc = json.loads(out)
        assert doc["state"] == "running" and doc["policy"] == "numaplane"
        chosen = [c for c in doc["considered"] if c["chosen"]]
        assert len(chosen) == 1 and chosen[0]["host"] == "h0"
        assert {c["host"]: c["rejected"] for c in doc["considered"] if c["rejected"]} == {
            "h1": "not schedulable (state cordoned)"
        }

        # h0 has 8G, 3G of it used: 6G fits nowhere while h1 is cordoned.
        code, out, err = await cli_run(address, "vm", "create", "big", "--vcpus", "2",
                                       "--memory", "6G", "--wait", "--wait-timeout", "1")
        assert code == 1
        assert err.strip().startswith("numaplane: VM big is still pending after 1s: no host")
        code, out, _ = await cli_run(address, "vms")
        assert code == 0
        big_row = next(line for line in out.splitlines() if line.startswith("big"))
        assert "pending" in big_row and "no host" in big_row  # the reason, wrapped at 80
        code, out, _ = await cli_run(address, "vms", "-o", "json")
        rows = {v["name"]: v for v in json.loads(out)}
        assert rows["big"]["state"] == "pending"
        assert rows["big"]["reason"].startswith("no host can hold 6G and 2 vCPUs")
        assert rows["web"]["reason"] is None

        code, out, _ = await cli_run(address, "host", "uncordon", "h1")
        assert (code, out.strip()) == (0, "host h1: schedulable")

        async def big_runs() -> bool:
            _, out, _ = await cli_run(address, "vm", "show", "big", "-o", "json")
            return bool(out) and json.loads(out)["state"] == "running"

        await wait_until(big_runs)
        code, out, err = await cli_run(address, "host", "drain", "h0")
        assert code == 0 and "draining" in out, err

        code, out, err = await cli_run(address, "vm", "delete", "web", "--wait")
        assert code == 0, err
        assert out.strip().splitlines() == ["VM web marked for deletion", "VM web deleted"]
        code, _, err = await cli_run(address, "vm", "delete", "web")
        assert (code, err.strip()) == (1, "numaplane: unknown VM 'web'")
        code, _, err = await cli_run(address, "explain", "vm", "legacy")
        assert code == 1 and "was not placed by numaplane" in err
