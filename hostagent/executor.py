"""Apply commands from the controller: fenced by epoch, at most once per id.

The executor owns no I/O of the link: it takes a Command message and returns a
CommandResult message. Kinds dispatch to small handlers; later issues add handlers,
not plumbing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from numaplane.v1 import link_pb2

from hostagent.applied_log import AppliedLog, AppliedResult

log = logging.getLogger(__name__)

Handler = Callable[[link_pb2.Command], Awaitable[str]]
"""Runs a command; returns a message for the result; raises CommandFailed on failure."""


class CommandFailed(Exception):
    """The command was understood but could not be carried out."""


class Executor:
    def __init__(self, applied: AppliedLog, request_report: Callable[[], None]) -> None:
        self._applied = applied
        self._request_report = request_report
        self._lock = asyncio.Lock()
        self._handlers: dict[str, Handler] = {
            "ping": self._ping,
            "report_now": self._report_now,
        }
        self._recorded: list[Callable[[str], None]] = []

    @property
    def max_epoch(self) -> int:
        """Highest fencing epoch accepted; sent in Hello."""
        return self._applied.max_epoch

    @property
    def kinds(self) -> tuple[str, ...]:
        return tuple(k.replace("_", "-") for k in self._handlers)

    def register(self, kind: str, handler: Handler) -> None:
        """Add a command kind (its oneof field name in link.proto's Command)."""
        self._handlers[kind] = handler

    def on_recorded(self, listener: Callable[[str], None]) -> None:
        """Call `listener(command_id)` once an id's result is in the applied log (long
        commands drop their in-progress record then, not before)."""
        self._recorded.append(listener)

    async def execute(self, cmd: link_pb2.Command) -> link_pb2.CommandResult:
        # One command at a time: a repeated id that arrives while the first copy still
        # runs must see the first copy's result, not start a second application.
        async with self._lock:
            return await self._execute(cmd)

    async def _execute(self, cmd: link_pb2.Command) -> link_pb2.CommandResult:
        done = self._applied.get(cmd.id)
        if done is not None:
            log.info("command %s already applied; answering with the stored result", cmd.id)
            return link_pb2.CommandResult(
                id=cmd.id, ok=done.ok, message=done.message, duplicate=True,
                finished_at=done.finished_at,
            )
        if cmd.epoch < self._applied.max_epoch:
            # Not recorded: a stale leader's command must not block the id forever.
            return link_pb2.CommandResult(
                id=cmd.id, ok=False, finished_at=time.time(),
                message=f"refused: epoch {cmd.epoch} is older than {self._applied.max_epoch}",
            )
        kind = cmd.WhichOneof("kind")
        handler = self._handlers.get(kind or "")
        if handler is None:
            ok, message = False, f"unknown command kind {kind!r}"
        else:
            try:
                ok, message = True, await handler(cmd)
            except CommandFailed as e:
                ok, message = False, str(e)
        result = AppliedResult(cmd.id, ok, message, time.time(), cmd.epoch)
        self._applied.record(result)
        for listener in self._recorded:
            listener(cmd.id)
        log.info("command %s (%s) -> %s: %s", cmd.id, kind, "ok" if ok else "failed", message)
        return link_pb2.CommandResult(
            id=cmd.id, ok=ok, message=message, finished_at=result.finished_at
        )

    async def _ping(self, cmd: link_pb2.Command) -> str:
        return f"pong {cmd.ping.payload}".strip()

    async def _report_now(self, cmd: link_pb2.Command) -> str:
        self._request_report()
        return "report requested"
