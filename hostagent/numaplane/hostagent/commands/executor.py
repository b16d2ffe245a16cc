"""Apply commands from the controller: fenced by epoch, at most once per id.

The executor owns no I/O of the link: it takes a Command message and returns a
CommandResult message. Kinds dispatch to small handlers; a new kind adds a handler,
not plumbing.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from numaplane.hostagent.commands.applied_log import AppliedLog, AppliedResult
from numaplane.v1 import link_pb2

log = logging.getLogger(__name__)

Handler = Callable[[link_pb2.Command], Awaitable[str]]
"""Runs a command; returns a message for the result; raises CommandFailed on failure."""


def target_vm(cmd: link_pb2.Command) -> str | None:
    """The VM a command acts on (commands on one VM are applied in order), if any."""
    kind = cmd.WhichOneof("kind")
    if kind in ("start_vm", "stop_vm"):
        return str(getattr(cmd, kind).name)
    if kind in ("set_balloon", "migrate_memory", "set_vcpu_affinity", "live_migrate"):
        return str(getattr(cmd, kind).vm)
    return None


class CommandFailed(Exception):
    """The command was understood but could not be carried out."""


class Executor:
    def __init__(self, applied: AppliedLog, request_report: Callable[[], None]) -> None:
        self._applied = applied
        self._request_report = request_report
        self._vm_locks: dict[str, asyncio.Lock] = {}
        self._running: dict[str, asyncio.Future[link_pb2.CommandResult]] = {}
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
        """Apply `cmd` once. Commands on one VM run one at a time, in arrival order (a
        memory move, then a re-pin, must not overtake each other); commands on
        different VMs run side by side, so a long migration does not hold up a ping or
        another VM's balloon. A repeated id that arrives while its first copy still
        runs waits for that copy and answers with its result."""
        running = self._running.get(cmd.id)
        if running is not None:
            first = await asyncio.shield(running)
            return link_pb2.CommandResult(
                id=first.id, ok=first.ok, message=first.message, duplicate=True,
                finished_at=first.finished_at,
            )
        done: asyncio.Future[link_pb2.CommandResult] = (
            asyncio.get_running_loop().create_future()
        )
        self._running[cmd.id] = done
        try:
            async with self._lock_for(cmd):
                result = await self._execute(cmd)
            done.set_result(result)
            return result
        except asyncio.CancelledError:
            done.cancel()  # the session ended; a waiting copy ends with it
            raise
        except BaseException as e:
            done.set_exception(e)
            done.exception()  # retrieved here: waiters re-raise it, nobody else must
            raise
        finally:
            del self._running[cmd.id]

    def _lock_for(self, cmd: link_pb2.Command) -> asyncio.Lock:
        vm = target_vm(cmd)
        if vm is None:
            return asyncio.Lock()  # host-wide commands (ping, report-now) never wait
        lock = self._vm_locks.get(vm)
        if lock is None:
            lock = self._vm_locks[vm] = asyncio.Lock()
        return lock

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
