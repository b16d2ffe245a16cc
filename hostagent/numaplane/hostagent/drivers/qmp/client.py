"""A small synchronous client of QEMU's monitor protocol (QMP) over a UNIX socket.

Synchronous because its callers are: backends and balloon drivers run in worker threads
(`asyncio.to_thread`), and a blocking socket with a timeout is the simplest correct
client there. One lock serialises commands, so two threads may share a client.

The protocol, as QEMU speaks it (docs/interop/qmp-spec): on connect the server sends a
greeting `{"QMP": {...}}`; the client must send `qmp_capabilities` before anything else.
Each command is one JSON object per line with an `id` the reply echoes; asynchronous
events (`{"event": ...}`) may arrive at any time, including between a command and its
reply, so replies are matched by id and events are kept aside (the last `keep_events`).

QEMU serves one monitor client at a time on a socket: while this client is connected
another one waits. A broken or timed-out connection is closed at once (a late reply
must never be taken for the answer to the next command) and the next command
reconnects; `generation` counts connections so that callers can drop what they cached
about the QEMU on the other side.
"""

from __future__ import annotations

import collections
import io
import itertools
import json
import logging
import socket
import struct
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 5.0


class QmpError(Exception):
    """Base of this module's errors."""


class QmpConnectionError(QmpError):
    """The socket could not be reached, broke, timed out or spoke something else than QMP."""


class QmpCommandError(QmpError):
    """QEMU answered a command with an error (`class` and `desc` as QEMU gave them)."""

    def __init__(self, command: str, error_class: str, desc: str) -> None:
        super().__init__(f"{command}: {error_class}: {desc}")
        self.command = command
        self.error_class = error_class
        self.desc = desc


class QmpClient:
    def __init__(
        self, path: Path | str, *, timeout_s: float = DEFAULT_TIMEOUT_S, keep_events: int = 64
    ) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.events: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep_events)
        """Events received so far (oldest dropped first)."""
        self.generation = 0
        """Incremented on every successful connect."""
        self.greeting: dict[str, Any] = {}
        self._lock = threading.RLock()
        self._sock: socket.socket | None = None
        self._file: io.BufferedRWPair | None = None
        self._ids = itertools.count(1)
        self._peer_pid = 0

    # -- connection ------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def connect(self) -> None:
        """Connect and negotiate (no-op when connected)."""
        with self._lock:
            if self._sock is not None:
                return
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(str(self.path))
            except OSError as e:
                sock.close()
                raise QmpConnectionError(f"cannot connect to {self.path}: {e}") from e
            self._sock, self._file = sock, sock.makefile("rwb")
            try:
                greeting = self._read_message()
                if "QMP" not in greeting:
                    raise QmpConnectionError(f"{self.path} sent no QMP greeting: {greeting!r}")
                self.greeting = greeting["QMP"]
                self._peer_pid = _peer_pid(sock)
                self._command("qmp_capabilities", None)
            except BaseException:
                self.close()
                raise
            self.generation += 1

    @property
    def peer_pid(self) -> int:
        """The pid of the QEMU on the other end of the socket (SO_PEERCRED); connects."""
        with self._lock:
            self.connect()
            return self._peer_pid

    def close(self) -> None:
        with self._lock:
            file, sock = self._file, self._sock
            self._file = self._sock = None
            for closeable in (file, sock):
                if closeable is not None:
                    try:
                        closeable.close()
                    except OSError as e:
                        log.debug("closing %s: %s", self.path, e)

    # -- commands --------------------------------------------------------------------

    def execute(self, command: str, arguments: Mapping[str, Any] | None = None) -> Any:
        """Run a command and return its `return` value; connects first if needed.

        Raises QmpCommandError when QEMU refuses the command (the connection stays up)
        and QmpConnectionError when the connection failed (it is closed).
        """
        with self._lock:
            self.connect()
            return self._command(command, arguments)

    def _command(self, command: str, arguments: Mapping[str, Any] | None) -> Any:
        msg_id = f"np-{next(self._ids)}"
        request: dict[str, Any] = {"execute": command, "id": msg_id}
        if arguments:
            request["arguments"] = dict(arguments)
        self._write(request)
        while True:
            msg = self._read_message()
            if "event" in msg:
                self.events.append(msg)
                continue
            if msg.get("id") != msg_id:
                # Not ours: with one command in flight at a time this cannot be a reply
                # we are waiting for; a broken peer is the only source.
                self.close()
                raise QmpConnectionError(f"{self.path}: reply for {msg.get('id')!r} while "
                                         f"waiting for {msg_id!r}: {msg!r}")
            if "error" in msg:
                error = msg["error"]
                raise QmpCommandError(command, str(error.get("class", "")),
                                      str(error.get("desc", "")))
            return msg.get("return")

    def _write(self, message: Mapping[str, Any]) -> None:
        assert self._file is not None
        try:
            self._file.write(json.dumps(message).encode() + b"\n")
            self._file.flush()
        except OSError as e:
            self.close()
            raise QmpConnectionError(f"{self.path}: write failed: {e}") from e

    def _read_message(self) -> dict[str, Any]:
        assert self._file is not None
        try:
            line = self._file.readline()
        except OSError as e:  # TimeoutError is an OSError
            self.close()
            raise QmpConnectionError(f"{self.path}: read failed: {e!r}") from e
        if not line:
            self.close()
            raise QmpConnectionError(f"{self.path}: QEMU closed the connection")
        try:
            msg = json.loads(line)
        except ValueError as e:
            self.close()
            raise QmpConnectionError(f"{self.path}: not JSON: {line[:200]!r}") from e
        if not isinstance(msg, dict):
            self.close()
            raise QmpConnectionError(f"{self.path}: not a QMP message: {msg!r}")
        return msg

    def __enter__(self) -> QmpClient:
        self.connect()
        return self

    def __exit__(self, *_: object) -> None:
        self.close()


def _peer_pid(sock: socket.socket) -> int:
    """The pid of the process at the other end of a connected UNIX socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, _uid, _gid = struct.unpack("3i", creds)
    return int(pid)
