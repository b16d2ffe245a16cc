"""One agent's stream, held by this replica: reports in, commands out.

A session owns three tasks (numaplane.common.tasks.race): the reader (reports and results), the
forwarder (watches the host's command journal and sends what is open), and the lease
watchdog (if the host's liveness lease is lost, the session ends and the agent
re-registers). When the stream ends the liveness lease is revoked at once (the host
shows `down` immediately) unless this replica is stopping and handing the agent over
to another, in which case the lease is left to expire.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import grpc

from numaplane.common.tasks import race
from numaplane.common.topology import Topology
from numaplane.controller.link.ingest import ReportIngest
from numaplane.controller.link.validation import InvalidMessage, validate_report
from numaplane.controller.metrics import ControllerMetrics
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.journal_progress import record_progress
from numaplane.controller.store import ClusterStore, Lease
from numaplane.v1 import link_pb2

log = logging.getLogger(__name__)

ServerContext = grpc.aio.ServicerContext[link_pb2.AgentMessage, link_pb2.ControllerMessage]


class SessionEnded(Exception):
    """The session is over (the stream ended, the lease was lost, or we are stopping)."""


class HostSession:
    def __init__(
        self,
        host: str,
        topology: Topology,
        context: ServerContext,
        store: ClusterStore,
        settings: ControllerSettings,
        metrics: ControllerMetrics,
    ) -> None:
        self.host = host
        self.topology = topology
        self._ctx = context
        self._store = store
        self._s = settings
        self._metrics = metrics
        self._write_lock = asyncio.Lock()
        self._sent: set[str] = set()
        self._stop = asyncio.Event()
        self.handover = False
        """True when the replica is stopping: leave the lease to expire, do not revoke."""
        self.connected_at = time.time()
        self.last_report_at = 0.0
        self.last_report_sequence = 0
        self.reports = 0
        self.ingest = ReportIngest(store, host, topology, settings, metrics)

    async def send(self, msg: link_pb2.ControllerMessage) -> None:
        async with self._write_lock:
            await self._ctx.write(msg)

    def stop(self, *, handover: bool) -> None:
        """Ask the session to end (from another task)."""
        self.handover = handover
        self._stop.set()

    async def run(self, lease: Lease) -> None:
        try:
            await race(self._reader(), self._forwarder(), self._watchdog(lease))
        except SessionEnded as e:
            log.info("session of %s ended: %s", self.host, e)

    async def _watchdog(self, lease: Lease) -> None:
        lost = asyncio.create_task(lease.lost.wait())
        stop = asyncio.create_task(self._stop.wait())
        try:
            await asyncio.wait({lost, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            lost.cancel()
            stop.cancel()
            await asyncio.gather(lost, stop, return_exceptions=True)
        if self._stop.is_set():
            if self.handover:
                await self.send(link_pb2.ControllerMessage(
                    reconnect=link_pb2.Reconnect(reason="controller replica stopping")))
            raise SessionEnded("stopped by the controller")
        raise SessionEnded("liveness lease lost (etcd unreachable for longer than its TTL)")

    async def _reader(self) -> None:
        while True:
            msg: Any = await self._ctx.read()
            if msg is grpc.aio.EOF:
                raise SessionEnded("agent closed the stream")
            body = msg.WhichOneof("body")
            if body == "report":
                await self._on_report(msg.report)
            elif body == "result":
                entry = await journal.record_result(self._store, self.host, msg.result)
                if entry is not None:
                    log.info("command %s on %s: %s %s", entry.id, self.host, entry.state,
                             entry.message)
            elif body == "progress":
                await record_progress(self._store, self.host, msg.progress)
            else:
                await self._refuse(f"unexpected {body} after Hello", 0)

    async def _on_report(self, report: link_pb2.Report) -> None:
        received = time.monotonic()
        self._metrics.reports.inc()
        try:
            validate_report(report, self.topology)
        except InvalidMessage as e:
            await self._refuse(str(e), report.sequence)
            return
        self.reports += 1
        self.last_report_at = time.time()
        self.last_report_sequence = report.sequence
        await self.ingest.ingest(report, received)

    async def _refuse(self, reason: str, sequence: int) -> None:
        self._metrics.reports_refused.inc()
        log.warning("refused a message from %s: %s", self.host, reason)
        await self.send(link_pb2.ControllerMessage(
            error=link_pb2.LinkError(reason=reason, report_sequence=sequence)))

    async def _forwarder(self) -> None:
        async for ev in self._store.watch_with_relist(keyspace.host_commands(self.host)):
            if ev.type != "put":
                continue
            entry = journal.parse_entry(ev.key, ev.value)
            if entry is None or entry.state not in journal.OPEN_STATES:
                continue
            if entry.id in self._sent:
                continue
            if not await journal.mark_sent(self._store, self.host, entry.id):
                continue
            self._sent.add(entry.id)
            await self.send(link_pb2.ControllerMessage(command=entry.command))
            self._metrics.commands_sent.inc()
            log.info("sent command %s (%s) to %s", entry.id,
                     entry.command.WhichOneof("kind"), self.host)


class SessionRegistry:
    """The sessions this replica holds, one per host (a reconnect replaces the old one)."""

    def __init__(self) -> None:
        self._by_host: dict[str, HostSession] = {}
        self.handing_over = False
        """Set when the replica stops with a handover: no new session is accepted (an
        agent told to reconnect must find another replica, not this one again), and
        sessions that end from now on leave their leases to expire instead of revoking."""

    def claim(self, session: HostSession) -> HostSession | None:
        old = self._by_host.get(session.host)
        self._by_host[session.host] = session
        return old

    def release(self, session: HostSession) -> None:
        if self._by_host.get(session.host) is session:
            del self._by_host[session.host]

    def all(self) -> list[HostSession]:
        return list(self._by_host.values())

    def get(self, host: str) -> HostSession | None:
        return self._by_host.get(host)
