"""The `numaplane` CLI against a real admin server over a real etcd store.

The server runs in the test's event loop; the CLI is a plain sync program, so each
invocation runs in a worker thread (click's CliRunner) while the loop answers it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from numaplane.common.units import GiB
from numaplane.controller.cli.main import cli
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store import ClusterStore
from numaplane.v1.link_pb2 import Command, Ping
from numaplane.v1.state_pb2 import CommandRequest, JournalEntry
from tests.support.admin_cluster import (
    Cluster,
    build_cluster,
    eventually,
    put_vm,
    serve_admin,
    vm_status,
)

pytestmark = pytest.mark.integration


@pytest.fixture
async def cluster(store: ClusterStore) -> AsyncIterator[Cluster]:
    built = await build_cluster(store)
    yield built
    await built.up_lease.close()


@pytest.fixture
async def address(store: ClusterStore, cluster: Cluster) -> AsyncIterator[str]:
    async with serve_admin(store) as served:
        yield served.address


async def numaplane(*args: str, env: Mapping[str, str] | None = None) -> Result:
    """Run the CLI in a worker thread; the loop keeps serving meanwhile."""
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=env)
    # Anything but a clean exit code is a bug in the CLI, not an expected failure.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result


def one_line(text: str) -> str:
    lines = text.splitlines()
    assert len(lines) == 1, f"expected one line, got {lines}"
    return lines[0]


async def test_hosts_json_has_the_documented_shape(address: str) -> None:
    result = await numaplane("--controller", address, "hosts", "--output", "json")
    assert result.exit_code == 0, result.stderr
    hosts = json.loads(result.stdout)
    assert [h["name"] for h in hosts] == ["hv-a", "hv-b"]
    a, b = hosts
    assert (a["state"], b["state"]) == ("up", "down")
    assert (a["vm_count"], b["vm_count"]) == (2, 1)
    assert a["distances"] == [[10, 21], [21, 10]]
    assert a["nodes"][0] == {
        "id": 0,
        "cpus": [0, 1, 2, 3],
        "offline_cpus": [],
        "memory_total_bytes": 16 * GiB,
        "memory_free_bytes": 8 * GiB,
        "memory_used_bytes": 8 * GiB,
    }
    assert a["memory_total_bytes"] == 32 * GiB
    assert a["memory_used_bytes"] == 12 * GiB
    assert a["cpus"] == 8
    assert a["mean_locality"] == pytest.approx(7 / 8)
    assert len(b["distances"]) == 4 and all(len(row) == 4 for row in b["distances"])
    assert b["nodes"][3]["offline_cpus"] == [15]


async def test_hosts_table_and_env_var_address(address: str) -> None:
    result = await numaplane("hosts", env={"NUMAPLANE_CONTROLLER": address})
    assert result.exit_code == 0, result.stderr
    header, *rows = result.stdout.splitlines()
    assert header.split()[:3] == ["NAME", "STATE", "NODES"]
    assert rows[0].split()[:4] == ["hv-a", "up", "2", "8"]
    assert rows[1].split()[:2] == ["hv-b", "down"]


async def test_host_show_draws_nodes_bars_and_distances(address: str) -> None:
    result = await numaplane("--controller", address, "host", "show", "hv-a")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "hv-a" in out and "up" in out
    assert "node 0" in out and "node 1" in out
    # db-1 is drawn with A and web-1 with B (by name); node 0 holds both.
    bar0 = next(line for line in out.splitlines() if line.strip().startswith("[A"))
    assert "B" in bar0 and "·" in bar0
    assert "A db-1" in out and "B web-1" in out
    assert "NUMA distances" in out and "21" in out

    down = await numaplane("--controller", address, "host", "show", "hv-b")
    assert down.exit_code == 0, down.stderr
    assert "offline 15" in down.stdout


async def test_host_show_json_includes_vms(address: str) -> None:
    result = await numaplane("--controller", address, "host", "show", "hv-b", "-o", "json")
    assert result.exit_code == 0, result.stderr
    host = json.loads(result.stdout)
    assert host["state"] == "down"
    assert [(v["name"], v["state"]) for v in host["vms"]] == [("batch-1", "unknown")]


async def test_vms_yaml_has_the_documented_shape(address: str) -> None:
    result = await numaplane("--controller", address, "vms", "--output", "yaml")
    assert result.exit_code == 0, result.stderr
    vms = {v["name"]: v for v in yaml.safe_load(result.stdout)}
    assert sorted(vms) == ["batch-1", "db-1", "web-1"]
    db = vms["db-1"]
    assert db["host"] == "hv-a"
    assert db["state"] == "running"
    assert db["vcpus"] == 1
    assert db["memory_bytes"] == 2 * GiB
    assert db["memory_by_node"] == {"0": GiB, "1": GiB}
    assert db["locality"] == 0.5
    assert db["balloon"] == {"target_bytes": 2 * GiB, "actual_bytes": 2 * GiB}
    assert vms["batch-1"]["state"] == "unknown"

    only_b = await numaplane("--controller", address, "vms", "--host", "hv-b", "-o", "json")
    assert [v["name"] for v in json.loads(only_b.stdout)] == ["batch-1"]


async def test_vm_show_explains_locality(address: str) -> None:
    result = await numaplane("--controller", address, "vm", "show", "db-1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert "hv-a (up)" in out
    assert "50%" in out
    assert "(on nodes 1)" in out  # its vCPU runs on CPU 4, on node 1


async def test_unknown_names_print_one_line_and_exit_1(address: str) -> None:
    result = await numaplane("--controller", address, "host", "show", "nope")
    assert result.exit_code == 1
    assert one_line(result.stderr) == "numaplane: unknown host 'nope'"
    assert result.stdout == ""

    result = await numaplane("--controller", address, "vm", "show", "ghost")
    assert result.exit_code == 1
    assert one_line(result.stderr) == "numaplane: unknown VM 'ghost'"


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_unreachable_controller_prints_one_line_and_exits_1() -> None:
    dead = f"127.0.0.1:{free_port()}"
    result = await numaplane("--controller", dead, "hosts")
    assert result.exit_code == 1
    assert (
        one_line(result.stderr)
        == f"numaplane: cannot reach controller at {dead} (connection refused)"
    )


async def test_bad_arguments_are_usage_errors() -> None:
    result = await numaplane("hosts", "--output", "xml")
    assert result.exit_code == 2
    assert one_line(result.stderr).startswith("numaplane: Invalid value for '--output'")

    result = await numaplane("--controller", "no-port", "hosts")
    assert result.exit_code == 2
    assert "HOST:PORT" in one_line(result.stderr)

    result = await numaplane("host", "show", "a/b")
    assert result.exit_code == 2
    assert "not a valid name" in one_line(result.stderr)


async def test_every_command_has_help_with_an_example() -> None:
    paths = [
        [],
        ["hosts"],
        ["host"],
        ["host", "show"],
        ["host", "ping"],
        ["host", "report-now"],
        ["vms"],
        ["vm"],
        ["vm", "show"],
        ["events"],
        ["command"],
        ["command", "show"],
        ["demo"],
    ]
    for path in paths:
        result = await numaplane(*path, "--help")
        assert result.exit_code == 0, path
        assert "Example" in result.stdout, path
        assert "numaplane " in result.stdout, path
    demo = await numaplane("demo", "--help")
    for option in ("--headless", "--duration", "--hosts", "--seed", "--port"):
        assert option in demo.stdout


async def test_events_without_follow_prints_current_state(address: str) -> None:
    result = await numaplane("--controller", address, "events")
    assert result.exit_code == 0, result.stderr
    kinds = [line.split()[1] for line in result.stdout.splitlines()]
    assert kinds == ["host-up", "host-down", "vm-appeared", "vm-appeared", "vm-appeared"]

    as_json = await numaplane("--controller", address, "events", "-o", "json")
    events = json.loads(as_json.stdout)
    assert events[0]["kind"] == "host-up" and events[0]["host"] == "hv-a"


async def play_leader_and_agent(store: ClusterStore, outcome: str, message: str) -> str:
    """Journal the first command request (as the leader) and finish it (as the agent)."""
    changes = store.watch_with_relist(keyspace.REQUESTS)
    async with contextlib.aclosing(changes):  # type: ignore[type-var]
        change = await anext(changes)
    request = decode(CommandRequest, change.value)
    entry = JournalEntry(
        id="c1",
        host=request.host,
        state="pending",
        command=Command(id="c1", epoch=3, ping=Ping(payload=request.payload)),
        request_id=request.id,
    )
    request.command_id = entry.id
    await store.txn_put_many(
        [
            (keyspace.command(request.host, entry.id), encode(entry), 0),
            (keyspace.request(request.id), encode(request), change.revision),
        ]
    )
    entry.state, entry.message = outcome, message
    await store.put(keyspace.command(request.host, entry.id), encode(entry))
    return request.id


@pytest.mark.parametrize(
    ("outcome", "exit_code", "last_line"),
    [
        ("applied", 0, "ping on host hv-a: applied: pong hi"),
        ("failed", 1, "numaplane: ping on host hv-a failed: agent refused"),
    ],
)
async def test_host_ping_wait_follows_the_command_to_its_end(
    address: str, store: ClusterStore, outcome: str, exit_code: int, last_line: str
) -> None:
    cli_run = asyncio.ensure_future(
        numaplane("--controller", address, "host", "ping", "hv-a", "--payload", "hi", "--wait")
    )
    try:
        message = "pong hi" if outcome == "applied" else "agent refused"
        request_id = await play_leader_and_agent(store, outcome, message)
    finally:
        result = await cli_run
    assert result.exit_code == exit_code
    assert result.stdout.splitlines()[0] == f"requested ping on host hv-a (request {request_id})"
    shown = result.stdout if exit_code == 0 else result.stderr
    assert shown.splitlines()[-1] == last_line

    record = await numaplane("--controller", address, "command", "show", request_id, "-o", "json")
    assert json.loads(record.stdout)["state"] == outcome


async def test_report_now_without_wait_only_records_the_request(
    address: str, store: ClusterStore
) -> None:
    result = await numaplane("--controller", address, "host", "report-now", "hv-b")
    assert result.exit_code == 0, result.stderr
    requests, _ = await store.get_prefix(keyspace.REQUESTS)
    assert [decode(CommandRequest, kv.value).kind for kv in requests] == ["report-now"]


NUMAPLANE = Path(sys.executable).parent / "numaplane"


@pytest.mark.skipif(not NUMAPLANE.exists(), reason="the numaplane console script is not installed")
async def test_events_follow_streams_through_a_pipe_and_stops_on_ctrl_c(
    address: str, store: ClusterStore
) -> None:
    proc = await asyncio.create_subprocess_exec(
        str(NUMAPLANE),
        "--controller",
        address,
        "events",
        "--follow",
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    try:
        existing = [json.loads(await proc.stdout.readline()) for _ in range(5)]
        assert [e["kind"] for e in existing][:2] == ["host-up", "host-down"]
        # Each event reaches the pipe as it happens, not when a buffer fills.
        await put_vm(store, vm_status("new-1", "hv-a", {1: GiB}, running_cpus=[4]))
        event = json.loads(await proc.stdout.readline())
        assert (event["kind"], event["vm"], event["host"]) == ("vm-appeared", "new-1", "hv-a")
        proc.send_signal(signal.SIGINT)
        stderr = await proc.stderr.read()
        assert await proc.wait() == 130
        assert b"Traceback" not in stderr
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_events_follow_ends_with_one_line_when_the_controller_goes(
    store: ClusterStore, cluster: Cluster
) -> None:
    async with serve_admin(store) as served:
        follow = asyncio.ensure_future(
            numaplane("--controller", served.address, "events", "--follow")
        )
        try:
            await eventually(lambda: served.servicer.watchers == 1)
        except BaseException:
            follow.cancel()  # the thread ends when the server below goes away
            raise
    result = await follow
    assert result.exit_code == 1
    assert "host-up" in result.stdout
    assert one_line(result.stderr).startswith(
        f"numaplane: lost the event stream from controller at {served.address}"
    )
