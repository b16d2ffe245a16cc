"""One controller replica: servers, leadership, and the tasks they own.

`Controller` is an async context manager: entering connects to etcd, starts the admin
and link gRPC servers and the root tasks (leadership loop, optional metrics and
aiomonitor); leaving stops them in order — health NOT_SERVING, agents told to
reconnect elsewhere, leadership resigned, servers stopped with a short grace — so that
`server.stop(grace)` does not sit out its grace on open agent streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from types import TracebackType
from typing import Any, Self

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

from numaplane.common.backoff import backoff_delays
from numaplane.common.grpc_options import server_options
from numaplane.common.tasks import race
from numaplane.controller.admin.servicer import AdminServicer
from numaplane.controller.leader import LeaderElection
from numaplane.controller.link.servicer import AgentLinkServicer
from numaplane.controller.link.session import SessionRegistry
from numaplane.controller.metrics import ControllerMetrics
from numaplane.controller.reconciler import Reconciler
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.store import ClusterStore, StoreError
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.settings import EtcdSettings
from numaplane.v1 import admin_pb2_grpc, link_pb2_grpc

log = logging.getLogger(__name__)


def etcd_settings(s: ControllerSettings) -> EtcdSettings:
    return EtcdSettings(
        endpoints=s.etcd_endpoints,
        namespace=s.etcd_namespace,
        username=s.etcd_username,
        password=s.etcd_password,
        ca_file=s.etcd_ca_file,
        cert_file=s.etcd_cert_file,
        key_file=s.etcd_key_file,
    )


class Controller:
    def __init__(self, settings: ControllerSettings, store: ClusterStore | None = None) -> None:
        self.settings = settings
        self.store: ClusterStore = store or EtcdStore(etcd_settings(settings))
        self.metrics = ControllerMetrics()
        self.sessions = SessionRegistry()
        self.election = LeaderElection(self.store, settings.controller_id,
                                       settings.leader_lease_ttl_s)
        self.reconciler = Reconciler(self.store, self.election, settings)
        self._health = health.aio.HealthServicer()
        self._servers: list[grpc.aio.Server] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._monitor: Any = None
        self._metrics_server: Any = None
        """aiomonitor (settings.monitor): a thread and servers of its own, closed by stop()."""
        self.admin_port = 0
        self.link_port = 0

    async def __aenter__(self) -> Self:
        await self.store.connect()
        opts = server_options(self.settings.keepalive_s, self.settings.max_message_bytes)
        link = grpc.aio.server(options=opts)
        link_pb2_grpc.add_AgentLinkServicer_to_server(
            AgentLinkServicer(self.store, self.settings, self.sessions, self.metrics), link
        )
        health_pb2_grpc.add_HealthServicer_to_server(self._health, link)
        admin = grpc.aio.server()
        servicer = AdminServicer(self.store)
        admin_pb2_grpc.add_AdminServicer_to_server(servicer, admin)
        health_pb2_grpc.add_HealthServicer_to_server(self._health, admin)
        self.link_port = _bind(link, self.settings.link_address)
        self.admin_port = _bind(admin, self.settings.admin_address)
        self._servers = [link, admin]
        for srv in self._servers:
            await srv.start()
        await self._health.set("", health_pb2.HealthCheckResponse.SERVING)
        self._tasks.append(asyncio.create_task(self._leadership(), name="controller-leadership"))
        if self.settings.metrics_port:
            from prometheus_client import start_http_server

            self._metrics_server, _ = start_http_server(
                self.settings.metrics_port, "127.0.0.1", registry=self.metrics.registry)
        if self.settings.monitor:
            from numaplane.controller.monitoring import start_controller_monitor

            self._monitor = start_controller_monitor(self, self.settings.monitor_port)
        log.info("controller %s: admin on %s, agents on %s", self.settings.controller_id,
                 self.admin_port, self.link_port)
        return self

    async def wait_failed(self) -> BaseException | None:
        """Return when a root task ends on its own (a bug or a fatal error)."""
        if not self._tasks:
            return None
        done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in done:
            if not t.cancelled():
                return t.exception()
        return None

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def stop(self, *, handover: bool = True) -> None:
        """Stop: NOT_SERVING, agents told to reconnect, leadership given up, servers down."""
        await self._health.enter_graceful_shutdown()
        self.sessions.handing_over = handover
        for session in self.sessions.all():
            session.stop(handover=handover)
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        with contextlib.suppress(StoreError):
            await self.election.resign()
        await asyncio.gather(
            *(srv.stop(self.settings.stop_grace_s) for srv in self._servers)
        )
        self._servers.clear()
        if self._monitor is not None:
            self._monitor.close()  # joins its thread: telnet and web UI servers are down
            self._monitor = None
        if self._metrics_server is not None:
            self._metrics_server.shutdown()
            self._metrics_server.server_close()
            self._metrics_server = None
        await self.store.close()

    async def _leadership(self) -> None:
        """Campaign; while leader run the reconciler; on loss campaign again."""
        delays = backoff_delays(0.5, 10.0)
        while True:
            try:
                await self.election.campaign()
                self.metrics.is_leader.set(1)
                try:
                    await race(self.election.hold(), self.reconciler.run())
                finally:
                    self.metrics.is_leader.set(0)
                    await self.election.resign()
                delays = backoff_delays(0.5, 10.0)
            except StoreError as e:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise asyncio.CancelledError from e
                delay = next(delays)
                log.warning("leadership loop: %s; retrying in %.1f s", e, delay)
                await asyncio.sleep(delay)


def _bind(server: grpc.aio.Server, address: str) -> int:
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    return port
