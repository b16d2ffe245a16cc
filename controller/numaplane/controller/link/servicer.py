"""The AgentLink servicer: validate Hello, register the host, hand over to a HostSession.

Thin by design: it decodes, validates and writes observed state; decisions happen in the
leader's reconciler, never here.
"""

from __future__ import annotations

import logging
import time

import grpc

from numaplane.common.wire import topology_to_proto
from numaplane.controller.link.session import HostSession, ServerContext, SessionRegistry
from numaplane.controller.link.validation import InvalidMessage, validate_hello
from numaplane.controller.metrics import ControllerMetrics
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore, StoreError
from numaplane.v1 import link_pb2, link_pb2_grpc, state_pb2

log = logging.getLogger(__name__)


class AgentLinkServicer(link_pb2_grpc.AgentLinkServicer):
    def __init__(
        self,
        store: ClusterStore,
        settings: ControllerSettings,
        registry: SessionRegistry,
        metrics: ControllerMetrics,
    ) -> None:
        self._store = store
        self._s = settings
        self._registry = registry
        self._metrics = metrics

    # The stub types this as returning an iterator; grpc.aio also allows a handler that
    # uses context.read()/write() and returns None, which lets the session write from
    # several tasks under one lock.
    async def Connect(  # type: ignore[override]
        self, request_iterator: object, context: ServerContext
    ) -> None:
        if self._registry.handing_over:
            # This replica is stopping; the agent's backoff finds the next one.
            await context.abort(grpc.StatusCode.UNAVAILABLE, "controller replica stopping")
        first = await context.read()
        if not isinstance(first, link_pb2.AgentMessage) or first.WhichOneof("body") != "hello":
            await self._refuse(context, "the first message on the link must be Hello")
            return
        hello = first.hello
        try:
            topology = validate_hello(hello)
        except InvalidMessage as e:
            await self._refuse(context, str(e))
            return
        session = HostSession(hello.host, topology, context, self._store, self._s, self._metrics)
        old = self._registry.claim(session)
        if old is not None:
            log.info("host %s reconnected; ending its previous session", hello.host)
            old.stop(handover=False)
        lease = await self._store.grant_lease(self._s.host_lease_ttl_s)
        try:
            now = time.time()
            info = state_pb2.HostInfo(
                host=hello.host, topology=topology_to_proto(topology),
                capabilities=hello.capabilities, agent_version=hello.agent_version,
                connected_at=now, controller_id=self._s.controller_id,
            )
            await self._store.put(keyspace.host_info(hello.host), encode(info))
            alive = state_pb2.HostAlive(controller_id=self._s.controller_id, since=now)
            await self._store.put(keyspace.host_alive(hello.host), encode(alive), lease=lease)
            await session.send(link_pb2.ControllerMessage(welcome=link_pb2.Welcome(
                controller_id=self._s.controller_id,
                report_interval_s=self._s.report_interval_s,
            )))
            log.info("host %s connected (%d nodes, agent %s, backend %s)", hello.host,
                     len(topology.nodes), hello.agent_version, hello.capabilities.backend)
            self._metrics.sessions.inc()
            try:
                await session.run(lease)
            finally:
                self._metrics.sessions.dec()
        finally:
            self._registry.release(session)
            # Revoke: the host is down now, not in a TTL. On a handover keep the lease so
            # the host does not flap while the agent moves to another replica.
            try:
                handover = session.handover or self._registry.handing_over
                await lease.close(revoke=not handover)
            except StoreError as e:
                log.warning("could not revoke the lease of %s (it will expire): %s",
                            hello.host, e)
            log.info("host %s disconnected", hello.host)

    async def _refuse(self, context: ServerContext, reason: str) -> None:
        log.warning("refused an agent: %s", reason)
        self._metrics.reports_refused.inc()
        await context.write(link_pb2.ControllerMessage(error=link_pb2.LinkError(reason=reason)))
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, reason)
