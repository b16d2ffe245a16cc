"""EmbeddedEtcd: a real etcd process that starts, restarts, cleans up and explains failures."""

from __future__ import annotations

import socket
import urllib.request

import pytest

from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, EmbeddedEtcdError, free_port

pytestmark = pytest.mark.integration


def _health(server: EmbeddedEtcd) -> bytes:
    with urllib.request.urlopen(f"{server.client_url}/health", timeout=5) as answer:
        body: bytes = answer.read()
        return body


def test_start_restart_and_stop_remove_the_data_dir() -> None:
    server = EmbeddedEtcd(unsafe_no_fsync=True)
    server.start()
    try:
        assert server.endpoint == f"127.0.0.1:{server.port}"
        assert server.client_url == f"http://{server.endpoint}"
        pid = server.pid
        server.restart()
        assert server.pid != pid and server.running
        assert b'"health":"true"' in _health(server)
        data_dir = server.data_dir
        assert (data_dir / "member").is_dir()
    finally:
        server.stop()
    assert not server.running
    assert not data_dir.exists()


def test_keep_data_keeps_the_data_dir() -> None:
    server = EmbeddedEtcd(unsafe_no_fsync=True, keep_data=True)
    with server:
        data_dir = server.data_dir
    assert (data_dir / "member").is_dir()
    server.stop(keep_data=False)
    assert not data_dir.exists()


async def test_async_context_manager() -> None:
    async with EmbeddedEtcd(unsafe_no_fsync=True) as server:
        assert server.running
    assert not server.running


def test_a_failed_start_shows_the_tail_of_etcds_log() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = EmbeddedEtcd(port=port, peer_port=free_port())
        with pytest.raises(EmbeddedEtcdError, match="address already in use") as caught:
            server.start()
        server.stop()
    assert "exited with status" in str(caught.value)
