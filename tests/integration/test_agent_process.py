"""The real `numaplane-agent` program against a controller: entry point, settings from
the environment, and a hung agent (SIGSTOP) noticed by gRPC keepalive.

A stopped process keeps its TCP connection open and answers nothing: only the
keepalive ping (with `grpc.http2.ping_timeout_ms`) can tell it is gone. The controller
then ends the session, revokes the host's lease, and the host shows `down`; on SIGCONT
the agent finds its stream dead and reconnects.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.controller.state import keyspace
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from tests.support.cluster import Controller, controller_settings, wait_for

pytestmark = pytest.mark.integration

AGENT = str(Path(sys.executable).parent / "numaplane-agent")


@pytest.fixture
def agent_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.update(
        NUMAPLANE_AGENT_BACKEND="sim",
        NUMAPLANE_AGENT_SIM_VMS="3",
        NUMAPLANE_AGENT_REPORT_INTERVAL_S="0.5",
        NUMAPLANE_AGENT_KEEPALIVE_S="1",
        NUMAPLANE_AGENT_BACKOFF_INITIAL_S="0.1",
        NUMAPLANE_AGENT_BACKOFF_MAX_S="0.5",
        NUMAPLANE_AGENT_STATE_DIR=str(tmp_path / "state"),
    )
    yield env


async def test_agent_program_connects_and_a_hung_agent_is_detected(
    etcd: EmbeddedEtcd, store: EtcdStore, agent_env: dict[str, str]
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace, keepalive_s=1.0,
                                   host_lease_ttl_s=10)
    async with Controller(settings):
        env = dict(agent_env, NUMAPLANE_AGENT_CONTROLLER=settings.link_address)
        proc = await asyncio.create_subprocess_exec(
            AGENT, "--host", "proc-host", env=env,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            alive = keyspace.host_alive("proc-host")

            async def up() -> bool:
                return await store.get(alive) is not None

            async def down() -> bool:
                return await store.get(alive) is None

            async def reported() -> bool:
                kvs, _ = await store.get_prefix(keyspace.VMS)
                return len(kvs) == 3

            await wait_for(up)
            await wait_for(reported)
            os.kill(proc.pid, signal.SIGSTOP)
            stopped = time.monotonic()
            # Keepalive (1 s ping, 1 s timeout) must notice well before the 10 s lease TTL.
            await wait_for(down, timeout=settings.host_lease_ttl_s)
            noticed = time.monotonic() - stopped
            assert noticed < settings.host_lease_ttl_s, "noticed by the lease, not keepalive"
            os.kill(proc.pid, signal.SIGCONT)
            await wait_for(up)
        finally:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            async with asyncio.timeout(20):
                _, err = await proc.communicate()
        assert proc.returncode in (0, -signal.SIGTERM), err.decode()[-2000:]


def test_agent_refuses_a_bad_setting_with_one_line(agent_env: dict[str, str]) -> None:
    env = dict(agent_env, NUMAPLANE_AGENT_REPORT_INTERVAL_S="often")
    run = subprocess.run([AGENT], env=env, capture_output=True, text=True, timeout=60,
                         check=False)
    assert run.returncode == 2
    assert "report_interval_s" in run.stderr and "Traceback" not in run.stderr
