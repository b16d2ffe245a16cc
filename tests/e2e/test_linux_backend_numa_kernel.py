"""The linux backend inside a real two-node NUMA kernel, booted with virtme-ng.

The fixture trees copy what a NUMA kernel writes; this checks the copy against the
original: CPU hot-unplug (offline CPUs keep their node), a node left without online
CPUs, and numa_maps of a process whose memory was first touched on node 1.
Skipped when virtme-ng (`vng`), QEMU or a kernel image is not installed
(`pip install virtme-ng`; Debian: linux-image-amd64, qemu-system-x86, busybox-static).
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

GUEST_SCRIPT = """
import json, os
from pathlib import Path
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.collectors.sysfs_topology import read_node_states, read_sysfs_topology

CPU = Path("/sys/devices/system/cpu")

def topology():
    t = read_sysfs_topology()
    return {
        "nodes": {n.id: {"cpus": n.cpus, "offline": n.offline_cpus,
                         "total": n.memory_total_bytes} for n in t.nodes},
        "distances": t.distances,
        "has_cpu": sorted(read_node_states().has_cpu or ()),
    }

out = {"initial": topology()}
(CPU / "cpu3/online").write_text("0")
out["cpu3_offline"] = topology()
(CPU / "cpu2/online").write_text("0")
out["node1_offline"] = topology()
(CPU / "cpu2/online").write_text("1")
(CPU / "cpu3/online").write_text("1")

os.sched_setaffinity(0, {2})
data = bytearray(64 << 20)
data[::4096] = b"\\1" * len(range(0, len(data), 4096))
vm = LinuxBackend(vm_pids={"self": os.getpid()}).observe().vms[0]
out["vm"] = {"memory_by_node": vm.memory_by_node, "allowed": vm.allowed_cpus,
             "running": vm.running_cpus}
print("RESULT " + json.dumps(out), flush=True)
"""


@pytest.fixture(scope="module")
def guest_result(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    vng, kernel = require_virtme()
    script = tmp_path_factory.mktemp("guest") / "guest.py"
    script.write_text(textwrap.dedent(GUEST_SCRIPT))
    env = {**os.environ, "PATH": f"{Path(vng).parent}:{os.environ.get('PATH', '')}"}
    command = [
        vng, "--disable-kvm", "-r", str(kernel), "--cpus", "4", "--memory", "2G",
        "--numa", "1G,cpus=0-1", "--numa", "1G,cpus=2-3", "--numa-distance", "0,1=21",
        "--", sys.executable, str(script),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    for line in done.stdout.splitlines():
        if line.startswith("RESULT "):
            result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
            return result
    pytest.fail(f"guest gave no result (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")


def test_two_nodes_as_booted(guest_result: dict[str, Any]) -> None:
    initial = guest_result["initial"]
    assert initial["distances"] == [[10, 21], [21, 10]]
    assert initial["nodes"]["0"]["cpus"] == [0, 1]
    assert initial["nodes"]["1"]["cpus"] == [2, 3]
    assert all(node["total"] > 512 << 20 for node in initial["nodes"].values())
    assert initial["has_cpu"] == [0, 1]


def test_offline_cpu_stays_on_its_node(guest_result: dict[str, Any]) -> None:
    node1 = guest_result["cpu3_offline"]["nodes"]["1"]
    assert node1["cpus"] == [2]
    assert node1["offline"] == [3]


def test_node_without_online_cpus(guest_result: dict[str, Any]) -> None:
    after = guest_result["node1_offline"]
    assert after["nodes"]["1"]["cpus"] == []
    assert after["nodes"]["1"]["offline"] == [2, 3]
    assert after["has_cpu"] == [0]


def test_memory_first_touched_on_node_1(guest_result: dict[str, Any]) -> None:
    vm = guest_result["vm"]
    assert vm["allowed"] == [2]
    assert vm["running"] == [2]
    assert vm["memory_by_node"].get("1", 0) >= 64 << 20
