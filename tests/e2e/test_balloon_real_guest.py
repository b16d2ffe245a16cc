"""A real Linux guest's balloon, moved through the whole control plane.

One boot of this machine's kernel under QEMU (virtme-ng, TCG, `--balloon`: a
virtio-balloon device with id balloon0), with a QMP socket added through `--qemu-opts`.
Inside, the guest copies its own /proc/meminfo to a directory shared with the host
every half second. Outside, a real etcd, a real controller and the real agent with the
`qmp` backend (the linux backend's view of the QEMU process, the balloon over QMP).

The operator's command is the CLI's: `numaplane balloon set guest 512M --wait`. The
controller records the target, its leader journals a SetBalloon, the replica holding the
agent's stream forwards it, and the agent applies it once through its qmp driver. Then:
the guest's MemTotal, read inside the guest, shrinks by about the requested amount; the
agent reports the balloon's actual size (in etcd, and through `numaplane balloon show`)
and the guest's own statistics, which agree with the guest's /proc/meminfo; setting it
back to 1G gives the memory back.

Skipped when virtme-ng (`vng`), QEMU or a kernel image is not installed.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from numaplane.common.vm import BalloonState
from numaplane.controller.cli.main import cli
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.settings import EtcdSettings
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.settings import AgentSettings
from tests.support.balloon import observed_balloon
from tests.support.cluster import Controller, controller_settings, running_agents, wait_for
from tests.support.virtme import require_virtme

pytestmark = pytest.mark.e2e

MiB = 1 << 20
GUEST_MEMORY = 1024 * MiB
TARGET = 512 * MiB
TOLERANCE = 16 * MiB
"""How far "about the requested amount" may be off (the balloon moves whole pages)."""
BOOT_BOUND_S = 600.0
"""Liveness bound for a TCG boot on a busy two-core machine (about 20 s when idle)."""
STEP_BOUND_S = 300.0

GUEST_LOOP = """
while [ ! -e {d}/stop ]; do
  cat /proc/meminfo > {d}/meminfo.new && mv {d}/meminfo.new {d}/meminfo
  sleep 0.5
done
"""


@dataclass
class Guest:
    process: subprocess.Popen[bytes]
    shared: Path
    qmp_socket: Path

    def meminfo(self) -> dict[str, int] | None:
        """The guest's /proc/meminfo in bytes, as it last copied it; None before boot."""
        try:
            text = (self.shared / "meminfo").read_text()
        except FileNotFoundError:
            return None
        values: dict[str, int] = {}
        for line in text.splitlines():
            key, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                values[key] = int(fields[0]) * (1024 if fields[1:] == ["kB"] else 1)
        return values if "MemTotal" in values else None

    def log_tail(self) -> str:
        try:
            return (self.shared / "vng.log").read_text()[-4000:]
        except FileNotFoundError:
            return ""


@pytest.fixture
def guest() -> Iterator[Guest]:
    """Boot the guest (the test waits for it); power it off and reap it at the end."""
    vng, kernel = require_virtme()
    shared = Path(tempfile.mkdtemp(prefix="np-guest-", dir="/tmp"))  # short: socket path
    sock = shared / "qmp.sock"
    env = {**os.environ, "PATH": f"{Path(vng).parent}:{os.environ.get('PATH', '')}"}
    command = [
        vng, "--disable-kvm", "-r", str(kernel), "--cpus", "1", "--memory", "1G",
        "--balloon", f"--qemu-opts=-qmp unix:{sock},server=on,wait=off",
        "--rwdir", str(shared), "--", "sh", "-c", GUEST_LOOP.format(d=shared),
    ]  # fmt: skip
    with (shared / "vng.log").open("wb") as log:
        # Its own session, so that teardown can reach QEMU even if vng did not exec it.
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                   stderr=subprocess.STDOUT, env=env, start_new_session=True)
    g = Guest(process, shared, sock)
    try:
        yield g
    finally:
        (shared / "stop").touch()  # the loop ends, vng powers the guest off
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        shutil.rmtree(shared, ignore_errors=True)


@pytest.fixture
def etcd() -> Iterator[EmbeddedEtcd]:
    server = EmbeddedEtcd(unsafe_no_fsync=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def store(etcd: EmbeddedEtcd) -> AsyncIterator[EtcdStore]:
    s = EtcdStore(EtcdSettings(endpoints=(etcd.endpoint,), namespace=f"/e2e-{uuid.uuid4().hex}",
                               timeout_s=5.0))
    await s.connect()
    yield s
    await s.close()


def about(value: int, expected: int) -> bool:
    return abs(value - expected) <= TOLERANCE


async def numaplane(admin: str, *args: str) -> str:
    """Run the `numaplane` CLI against the controller's admin address; its output."""
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["--controller", admin, *args], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    return result.stdout


async def test_set_balloon_shrinks_the_real_guest_and_the_agent_reports_it(
    guest: Guest, etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace,
                                   status_max_interval_s=1.0, balloon_period_s=0.5)
    agent_settings = AgentSettings(
        host="guesthost", controller=settings.link_address, backend="qmp",
        qmp_sockets=(f"guest={guest.qmp_socket}",), balloon_stats_period_s=1,
        report_interval_s=0.5, backoff_initial_s=0.1, backoff_max_s=0.5, keepalive_s=2.0,
    )
    async with Controller(settings) as ctl, running_agents() as agents:
        agent = agents.start(Agent(agent_settings))

        async def booted() -> bool:
            if guest.process.poll() is not None:
                pytest.fail(f"the guest exited early:\n{guest.log_tail()}")
            return guest.meminfo() is not None

        await wait_for(booted, timeout=BOOT_BOUND_S, every=0.5)
        before = guest.meminfo()
        assert before is not None
        assert agent.backend.capabilities().name == "qmp"

        async def reported_full() -> bool:
            b = await observed_balloon(store, "guest")
            return b is not None and b.actual_bytes == b.max_bytes == GUEST_MEMORY

        await wait_for(reported_full, timeout=STEP_BOUND_S)
        at_rest = await observed_balloon(store, "guest")
        assert at_rest is not None and at_rest.driver == "qmp"
        assert at_rest.capabilities.guest_stats

        admin = f"127.0.0.1:{ctl.admin_port}"
        # Inflate: the guest is asked to live in TARGET bytes. --wait returns once the
        # agent has applied the command (QEMU took the target; the guest then inflates).
        said = await numaplane(admin, "balloon", "set", "guest", "512M", "--wait",
                               "--wait-timeout", str(STEP_BOUND_S))
        assert "applied on guesthost" in said, said

        async def guest_shrunk() -> bool:
            now = guest.meminfo()
            return now is not None and now["MemTotal"] <= before["MemTotal"] - TARGET + TOLERANCE

        await wait_for(guest_shrunk, timeout=STEP_BOUND_S, every=0.5)
        after = guest.meminfo()
        assert after is not None
        requested = GUEST_MEMORY - TARGET
        assert about(before["MemTotal"] - after["MemTotal"], requested)
        assert after["MemAvailable"] < before["MemAvailable"] - requested + TOLERANCE

        async def agent_reports_actual() -> bool:
            b = await observed_balloon(store, "guest")
            return b is not None and b.target_bytes == TARGET and about(b.actual_bytes, TARGET)

        await wait_for(agent_reports_actual, timeout=STEP_BOUND_S)

        async def guest_stats_agree() -> bool:
            # The guest's statistics through the balloon (they lag by a polling period or
            # two) come to agree with what the guest shows itself.
            b = await observed_balloon(store, "guest")
            return (b is not None and b.guest is not None and b.guest.available_bytes is not None
                    and about(b.guest.available_bytes, guest_memtotal(guest)))

        await wait_for(guest_stats_agree, timeout=STEP_BOUND_S)
        reported = await observed_balloon(store, "guest")
        assert reported is not None
        shown = json.loads(await numaplane(admin, "balloon", "show", "guest", "-o", "json"))
        assert shown["driver"] == "qmp" and shown["target_bytes"] == TARGET
        assert about(shown["actual_bytes"], TARGET) and shown["max_bytes"] == GUEST_MEMORY
        assert shown["guest"] is not None

        # Deflate: the memory comes back.
        await numaplane(admin, "balloon", "set", "guest", "1G", "--wait",
                        "--wait-timeout", str(STEP_BOUND_S))

        async def guest_restored() -> bool:
            now = guest.meminfo()
            return now is not None and about(now["MemTotal"], before["MemTotal"])

        await wait_for(guest_restored, timeout=STEP_BOUND_S, every=0.5)

        async def agent_reports_deflated() -> bool:
            b = await observed_balloon(store, "guest")
            return b is not None and b.target_bytes == b.actual_bytes == GUEST_MEMORY

        await wait_for(agent_reports_deflated, timeout=STEP_BOUND_S)
        print_summary(before, after, reported)


def guest_memtotal(guest: Guest) -> int:
    now = guest.meminfo()
    assert now is not None
    return now["MemTotal"]


def print_summary(before: dict[str, int], after: dict[str, int], reported: BalloonState) -> None:
    """Shown with -s: what the guest and the agent said (the report quotes these)."""
    print(f"\nguest MemTotal {before['MemTotal'] // MiB} -> {after['MemTotal'] // MiB} MiB, "
          f"MemAvailable {before['MemAvailable'] // MiB} -> {after['MemAvailable'] // MiB} MiB; "
          f"agent: target {reported.target_bytes // MiB} MiB, actual "
          f"{reported.actual_bytes // MiB} MiB, guest stats {reported.guest}")
