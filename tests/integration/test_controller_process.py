"""The real `numaplane-controller` program: starts from flags and the environment,
serves the CLI, and stops cleanly (exit 0) on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, free_port
from tests.support.etcd import unique_namespace

pytestmark = pytest.mark.integration

BIN = Path(sys.executable).parent


async def test_controller_program_serves_the_cli_and_stops_on_sigterm(
    etcd: EmbeddedEtcd, tmp_path: Path
) -> None:
    admin = f"127.0.0.1:{free_port()}"
    config = tmp_path / "controller.toml"
    config.write_text(f'admin_address = "{admin}"\nreport_interval_s = 1.0\n')
    env = dict(os.environ,
               NUMAPLANE_CONTROLLER_ETCD_ENDPOINTS=etcd.endpoint,
               NUMAPLANE_CONTROLLER_ETCD_NAMESPACE=unique_namespace())
    proc = await asyncio.create_subprocess_exec(
        str(BIN / "numaplane-controller"), "--config", str(config),
        "--link-address", f"127.0.0.1:{free_port()}",
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(30):
            while True:
                run = await asyncio.to_thread(
                    subprocess.run, [str(BIN / "numaplane"), "--controller", admin, "hosts",
                                     "--output", "json"],
                    capture_output=True, text=True, check=False)
                if run.returncode == 0:
                    break
                await asyncio.sleep(0.2)
        assert json.loads(run.stdout) == []
    finally:
        proc.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, err = await proc.communicate()
    assert proc.returncode == 0, err.decode()[-2000:]


def test_controller_refuses_an_unknown_config_key(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("admin_adress = '127.0.0.1:1'\n")
    run = subprocess.run([str(BIN / "numaplane-controller"), "--config", str(config)],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 2
    assert "admin_adress" in run.stderr and "Traceback" not in run.stderr
