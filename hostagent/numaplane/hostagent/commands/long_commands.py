"""Long commands — memory and live migrations — applied once across agent restarts, with
progress sent while they run.

The executor's applied log records an id when its result is known; a migration takes
seconds to minutes, and an agent may stop in the middle. Without more, the restarted
agent would get the id again from the controller (its journal entry is still `sent`),
find it in no log, and start a second migration. So a long command also has an
*in-progress* record, in `state_dir/in-progress.json`:

    first delivery  -> record {id, command} (fsynced), start the work as a task owned here,
                       the handler awaits it
    sent again      -> (after a reconnect) the handler attaches to the same task
    agent stops     -> the task is cancelled: the mover stops between two steps (its cancel
                       event); the record stays
    agent restarts  -> `resume()` starts one task per record, before the link connects;
                       the re-sent id attaches to it; movers are resumable, so it moves
                       only what was left
    work finishes   -> the outcome is written into the record, then returned: the executor
                       records the id as applied and `forget` drops the record (in that
                       order, so a crash in between finds the id applied and does not
                       resume it)
    finished before the id arrives again -> the stored outcome answers it, nothing runs

A record older than `MAX_AGE_S`, or of an older fencing epoch than the agent has since
accepted, is not resumed: the controller will not (or may not) send it again.

Progress: the mover's callback (in its worker thread) is carried to the event loop and
handed to `send_progress` (the link) at most every `progress_interval_s` per command,
and once at the end.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

from google.protobuf import json_format

from numaplane.common.units import MiB
from numaplane.hostagent.commands.executor import CommandFailed
from numaplane.hostagent.drivers.contract import (
    LiveMigration,
    MemoryMigration,
    MoveCancelled,
    MoveError,
    Mover,
    Progress,
)
from numaplane.v1 import link_pb2

log = logging.getLogger(__name__)

LONG_KINDS = ("migrate_memory", "live_migrate")
MAX_AGE_S = 7 * 24 * 3600.0


@dataclass
class InProgress:
    id: str
    kind: str
    command: str
    """The Command message as JSON (resumed from it)."""
    epoch: int
    started_at: float
    resumes: int = 0
    """How many times a restarted agent resumed it."""
    ok: bool | None = None
    """None while it runs; the outcome once finished."""
    message: str = ""


MOVE_THREADS = 2
"""Memory moves running at once; more queue (the per-host budget spaces them anyway)."""


class LongCommands:
    def __init__(
        self,
        mover: Mover,
        state_dir: Path | None,
        *,
        send_progress: Callable[[link_pb2.CommandProgress], None],
        request_report: Callable[[], None],
        max_epoch: Callable[[], int] = lambda: 0,
        progress_interval_s: float = 0.5,
    ) -> None:
        self._mover = mover
        self._path = state_dir / "in-progress.json" if state_dir is not None else None
        self._send_progress = send_progress
        self._request_report = request_report
        self._max_epoch = max_epoch
        self._interval = progress_interval_s
        self._records: dict[str, InProgress] = self._load()
        self._tasks: dict[str, asyncio.Task[tuple[bool, str]]] = {}
        self._cancels: dict[str, threading.Event] = {}
        # Moves get threads of their own: in the default pool, a few long migrations
        # would hold every worker and the agent's reports (asyncio.to_thread) would wait
        # behind them — the host would look silent exactly while it is busiest.
        self._pool = ThreadPoolExecutor(max_workers=MOVE_THREADS, thread_name_prefix="mover")
        self.started = 0
        """Works started in this process (a first run or a resume): what tests count."""

    # -- the executor's side -------------------------------------------------------------

    async def run(self, cmd: link_pb2.Command) -> str:
        """Apply `cmd` once: start it, attach to its running task, or answer its outcome."""
        record = self._records.get(cmd.id)
        if record is not None and record.ok is not None:
            return _answer(record.ok, record.message)
        task = self._tasks.get(cmd.id)
        if task is None:
            kind = cmd.WhichOneof("kind") or ""
            record = InProgress(
                id=cmd.id,
                kind=kind,
                command=json_format.MessageToJson(cmd, indent=None),
                epoch=cmd.epoch,
                started_at=time.time(),
            )
            self._records[cmd.id] = record
            self._save()
            task = self._start(cmd)
        ok, message = await asyncio.shield(task)
        return _answer(ok, message)

    def forget(self, command_id: str) -> None:
        """The id is in the applied log now: its record is no longer needed."""
        if self._records.pop(command_id, None) is not None:
            self._save()

    # -- lifecycle -----------------------------------------------------------------------

    def resume(self, is_applied: Callable[[str], bool]) -> list[str]:
        """Start the work of every unfinished record (call before the link connects)."""
        resumed = []
        for record in list(self._records.values()):
            if is_applied(record.id):
                self.forget(record.id)
                continue
            if record.ok is not None or record.id in self._tasks:
                continue
            too_old = time.time() - record.started_at > MAX_AGE_S
            if too_old or record.epoch < self._max_epoch():
                log.warning("not resuming %s %s: %s", record.kind, record.id,
                            "too old" if too_old else "superseded epoch")
                self.forget(record.id)
                continue
            cmd = json_format.Parse(record.command, link_pb2.Command())
            record.resumes += 1
            self._save()
            log.info("resuming %s %s (interrupted by a restart)", record.kind, record.id)
            self._start(cmd)
            resumed.append(record.id)
        return resumed

    async def close(self) -> None:
        """Stop every running work (movers stop between steps) and wait for them."""
        for event in self._cancels.values():
            event.set()
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._pool.shutdown(wait=False)

    @property
    def running(self) -> tuple[str, ...]:
        return tuple(self._tasks)

    def record(self, command_id: str) -> InProgress | None:
        return self._records.get(command_id)

    # -- the work ------------------------------------------------------------------------

    def _start(self, cmd: link_pb2.Command) -> asyncio.Task[tuple[bool, str]]:
        cancel = threading.Event()
        self._cancels[cmd.id] = cancel
        task = asyncio.create_task(self._work(cmd, cancel), name=f"command-{cmd.id}")
        self._tasks[cmd.id] = task
        self.started += 1
        return task

    async def _work(self, cmd: link_pb2.Command, cancel: threading.Event) -> tuple[bool, str]:
        loop = asyncio.get_running_loop()
        progress = _Throttled(cmd.id, self._send_progress, self._interval, loop)
        try:
            fut = loop.run_in_executor(self._pool, self._call_mover, cmd, progress, cancel)
            try:
                ok, message = True, await asyncio.shield(fut)
            except asyncio.CancelledError:
                cancel.set()
                with contextlib.suppress(Exception):
                    await fut  # the mover stops at its next step; never leave it behind
                raise
            except MoveCancelled:
                raise asyncio.CancelledError from None
            except MoveError as e:
                ok, message = False, str(e)
            progress.flush()
            record = self._records.get(cmd.id)
            if record is not None:
                record.ok, record.message = ok, message
                self._save()
            self._request_report()
            return ok, message
        finally:
            self._tasks.pop(cmd.id, None)
            self._cancels.pop(cmd.id, None)

    def _call_mover(
        self, cmd: link_pb2.Command, progress: Progress, cancel: threading.Event
    ) -> str:
        kind = cmd.WhichOneof("kind")
        if kind == "migrate_memory":
            m = cmd.migrate_memory
            move = MemoryMigration(
                vm=m.vm,
                to_nodes=tuple(m.to_nodes),
                rate_bytes_per_s=m.rate_mib_s * MiB,
                rebind_vcpus=m.rebind_vcpus,
            )
            return self._mover.migrate_memory(move, progress, cancel)
        if kind == "live_migrate":
            lm = cmd.live_migrate
            live = LiveMigration(
                vm=lm.vm,
                target_host=lm.target_host,
                target_uri=lm.target_uri,
                target_nodes=tuple(lm.target_nodes),
                rate_bytes_per_s=lm.rate_mib_s * MiB,
            )
            return self._mover.live_migrate(live, progress, cancel)
        raise MoveError(f"{kind!r} is not a long command")

    # -- the file ------------------------------------------------------------------------

    def _load(self) -> dict[str, InProgress]:
        if self._path is None or not self._path.exists():
            return {}
        try:
            raw = json.loads(self._path.read_text() or "{}")
            return {key: InProgress(**value) for key, value in raw.items()}
        except (ValueError, TypeError) as e:
            # Written by rename, so never torn; unreadable means hand-edited or corrupt.
            log.error("ignoring unreadable %s: %s", self._path, e)
            return {}

    def _save(self) -> None:
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w") as f:
            json.dump({key: asdict(r) for key, r in self._records.items()}, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self._path)


class _Throttled:
    """A mover's progress callback: from its thread to the loop, at most every `interval`."""

    def __init__(
        self,
        command_id: str,
        send: Callable[[link_pb2.CommandProgress], None],
        interval: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self._id = command_id
        self._send = send
        self._interval = interval
        self._loop = loop
        self._last_sent = 0.0
        self._latest: link_pb2.CommandProgress | None = None
        self._lock = threading.Lock()

    def __call__(self, done: int, total: int, message: str) -> None:
        fraction = 1.0 if total <= 0 else min(1.0, done / total)
        msg = link_pb2.CommandProgress(
            id=self._id, fraction=fraction, message=message, bytes_done=done
        )
        with self._lock:
            self._latest = msg
            now = time.monotonic()
            if now - self._last_sent < self._interval:
                return
            self._last_sent = now
        self._loop.call_soon_threadsafe(self._send, msg)

    def flush(self) -> None:
        """Send the last progress seen (from the loop's thread)."""
        with self._lock:
            latest, self._latest = self._latest, None
        if latest is not None:
            self._send(latest)


def _answer(ok: bool, message: str) -> str:
    if not ok:
        raise CommandFailed(message)
    return message
