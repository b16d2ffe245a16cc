"""The agent's end of the link: one bidirectional stream to the controller, held forever.

A session is Hello -> Welcome, then tasks owned by the session (numaplane.common.tasks.race):
the reporter (every interval, or at once on request), the reader (commands in), the
command worker (apply, answer), the progress sender, and — when
`vcpu_samples_per_report` is above 1 — the vCPU sampler, which reads where the vCPUs run
between reports into the session's `VcpuSamples` for the reporter to merge
(numaplane.hostagent.vcpu_sampling). Any of them failing ends the session; the agent then
reconnects after a jittered exponential delay, or at once when the controller asked it
to (a replica that is stopping sends Reconnect).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import grpc

from numaplane.common.backoff import backoff_delays
from numaplane.common.grpc_options import client_options
from numaplane.common.tasks import race
from numaplane.common.wire import topology_to_proto
from numaplane.hostagent import __version__
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.drivers.contract import Backend
from numaplane.hostagent.reporter import build_report
from numaplane.hostagent.settings import AgentSettings
from numaplane.hostagent.vcpu_sampling import VcpuSamples, sample_vcpus
from numaplane.v1 import link_pb2, link_pb2_grpc

log = logging.getLogger(__name__)

_Send = Callable[[link_pb2.AgentMessage], Awaitable[None]]
_Call = grpc.aio.StreamStreamCall[link_pb2.AgentMessage, link_pb2.ControllerMessage]


class SessionEnded(Exception):
    """The controller closed the stream, refused us, or asked us to reconnect."""

    def __init__(self, reason: str, *, immediate: bool = False) -> None:
        super().__init__(reason)
        self.immediate = immediate


@dataclass
class LinkStatus:
    """What the aiomonitor command and tests read about the link."""

    connected: bool = False
    controller_id: str = ""
    sessions: int = 0
    last_report_at: float = 0.0
    last_report_sequence: int = 0
    last_report_vms: int = 0
    last_report_vcpu_samples: int = 0
    """vCPU position samples merged into the last report (besides its own reading)."""
    last_error: str = ""
    errors_from_controller: int = 0


class AgentLink:
    def __init__(self, settings: AgentSettings, backend: Backend, executor: Executor) -> None:
        self._settings = settings
        self._backend = backend
        self._executor = executor
        self._report_wanted = asyncio.Event()
        self._progress: dict[str, link_pb2.CommandProgress] = {}
        self._progress_ready = asyncio.Event()
        self.status = LinkStatus()
        self.connected = asyncio.Event()

    def request_report(self) -> None:
        """Send a report now (a report-now command calls this)."""
        self._report_wanted.set()

    def report_progress(self, progress: link_pb2.CommandProgress) -> None:
        """Send a long command's progress (only the latest per command is kept while
        disconnected: progress is advisory, the result is what counts)."""
        self._progress[progress.id] = progress
        self._progress_ready.set()

    async def run(self) -> None:
        """Connect, hold the session, reconnect with backoff; until cancelled."""
        delays = backoff_delays(self._settings.backoff_initial_s, self._settings.backoff_max_s)
        while True:
            immediate = False
            try:
                await self._connect_once()
            except SessionEnded as e:
                immediate = e.immediate
                self.status.last_error = str(e)
                log.warning("link to %s ended: %s", self._settings.controller, e)
            except grpc.aio.AioRpcError as e:
                self.status.last_error = f"{e.code().name}: {e.details()}"
                log.warning("link to %s failed: %s", self._settings.controller,
                            self.status.last_error)
            except asyncio.InvalidStateError:
                # grpc.aio raises this (not AioRpcError) when writing to a call that the
                # channel has already failed.
                self.status.last_error = "stream closed before Hello was sent"
                log.warning("link to %s failed: %s", self._settings.controller,
                            self.status.last_error)
            except Exception as e:
                # An agent must outlive any one bad session: log it, back off, retry.
                self.status.last_error = repr(e)
                log.exception("link session failed unexpectedly")
            finally:
                self.status.connected = False
                self.connected.clear()
            if immediate:
                delays = backoff_delays(
                    self._settings.backoff_initial_s, self._settings.backoff_max_s
                )
                continue
            delay = next(delays)
            log.info("reconnecting in %.1f s", delay)
            await asyncio.sleep(delay)

    async def _connect_once(self) -> None:
        options = client_options(self._settings.keepalive_s, self._settings.max_message_bytes)
        async with grpc.aio.insecure_channel(self._settings.controller, options=options) as ch:
            stub = link_pb2_grpc.AgentLinkStub(ch)
            call = stub.Connect()
            try:
                await self._session(call)
            finally:
                call.cancel()

    async def _session(self, call: _Call) -> None:
        topology = await asyncio.to_thread(self._backend.topology)
        caps = self._backend.capabilities()
        hello = link_pb2.Hello(
            host=self._settings.host,
            topology=topology_to_proto(topology),
            agent_version=__version__,
            last_epoch=self._executor.max_epoch,
        )
        hello.capabilities.backend = caps.name
        hello.capabilities.command_kinds.extend(self._executor.kinds)
        hello.capabilities.balloon = caps.balloon
        hello.capabilities.memory_migration = caps.memory_migration
        hello.capabilities.live_migration = caps.live_migration
        await call.write(link_pb2.AgentMessage(hello=hello))
        first = await _read(call)
        if first is None:
            raise SessionEnded("controller closed the stream before Welcome")
        if first.WhichOneof("body") == "error":
            raise SessionEnded(f"controller refused Hello: {first.error.reason}")
        if first.WhichOneof("body") != "welcome":
            raise SessionEnded(f"expected Welcome, got {first.WhichOneof('body')}")
        interval = first.welcome.report_interval_s or self._settings.report_interval_s
        self.status.connected = True
        self.status.controller_id = first.welcome.controller_id
        self.status.sessions += 1
        self.connected.set()
        log.info("connected to controller %s", first.welcome.controller_id)

        write_lock = asyncio.Lock()
        commands: asyncio.Queue[link_pb2.Command] = asyncio.Queue()

        async def send(msg: link_pb2.AgentMessage) -> None:
            async with write_lock:
                await call.write(msg)

        samples = VcpuSamples()
        tasks = [
            self._reporter(send, interval, samples),
            self._worker(send, commands),
            self._reader(call, commands),
            self._progress_sender(send),
        ]
        per_report = self._settings.vcpu_samples_per_report
        if per_report > 1:
            tasks.append(sample_vcpus(self._backend, samples, interval / per_report))
        await race(*tasks)

    async def _progress_sender(self, send: _Send) -> None:
        while True:
            await self._progress_ready.wait()
            self._progress_ready.clear()
            pending, self._progress = self._progress, {}
            for msg in pending.values():
                await send(link_pb2.AgentMessage(progress=msg))

    async def _reporter(self, send: _Send, interval: float, samples: VcpuSamples) -> None:
        sequence = 0
        self._report_wanted.set()  # first report at once
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the inner wait completes, and the session would not end.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(interval):
                    await self._report_wanted.wait()
            on_demand = self._report_wanted.is_set()
            self._report_wanted.clear()
            topology = await asyncio.to_thread(self._backend.topology)
            obs = await asyncio.to_thread(self._backend.observe)
            merged = samples.samples
            obs = samples.merge_into(obs, topology)
            sequence += 1
            report = build_report(obs, topology, sequence, on_demand)
            await send(link_pb2.AgentMessage(report=report))
            self.status.last_report_at = time.time()
            self.status.last_report_sequence = sequence
            self.status.last_report_vms = len(report.vms)
            self.status.last_report_vcpu_samples = merged

    async def _worker(self, send: _Send, commands: asyncio.Queue[link_pb2.Command]) -> None:
        """Start each command as a task of this session (the executor orders commands
        per VM); the tasks end with the session."""
        tasks: set[asyncio.Task[None]] = set()

        async def apply(cmd: link_pb2.Command) -> None:
            result = await self._executor.execute(cmd)
            await send(link_pb2.AgentMessage(result=result))

        try:
            while True:
                cmd = await commands.get()
                task = asyncio.create_task(apply(cmd), name=f"command-{cmd.id}")
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                # A failed send ends the session like any other session task failure.
                task.add_done_callback(_raise_into(asyncio.current_task()))
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    async def _reader(
        self,
        call: _Call,
        commands: asyncio.Queue[link_pb2.Command],
    ) -> None:
        while True:
            msg = await _read(call)
            if msg is None:
                raise SessionEnded("controller closed the stream")
            body = msg.WhichOneof("body")
            if body == "command":
                commands.put_nowait(msg.command)
            elif body == "error":
                self.status.errors_from_controller += 1
                log.error("controller refused a message: %s", msg.error.reason)
            elif body == "reconnect":
                raise SessionEnded(f"controller asked to reconnect: {msg.reconnect.reason}",
                                   immediate=True)



async def _read(call: _Call) -> link_pb2.ControllerMessage | None:
    """The next message, or None at the end of the stream."""
    msg = await call.read()
    return msg if isinstance(msg, link_pb2.ControllerMessage) else None



def _raise_into(
    owner: asyncio.Task[object] | None,
) -> Callable[[asyncio.Task[None]], None]:
    """A done-callback that cancels `owner` when a child task failed (not cancelled)."""

    def check(task: asyncio.Task[None]) -> None:
        if owner is not None and not task.cancelled() and task.exception() is not None:
            log.warning("command task failed: %r", task.exception())
            owner.cancel()

    return check
