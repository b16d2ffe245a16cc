"""The store's one live etcd client: endpoint fail-over, re-authentication, retries.

aetcd knows a single endpoint and never refreshes its auth token. `EtcdConnection`
tries the configured endpoints in order until one answers, replaces the client when
the current endpoint stops answering or rejects the token, and runs each request
through `call`, which retries once only when that cannot apply a mutation twice:

* a request that never left the process, and a read whose connection broke, are
  retried on a fresh client (possibly of the next endpoint);
* a mutation whose connection broke mid-flight is not retried: its outcome is unknown,
  so the caller gets StoreUnavailableError and re-reads (level-triggered);
* an UNAUTHENTICATED answer means etcd rejected the request, so it is always retried
  once after re-authenticating;
* a request that got no answer in time is not retried and keeps the connection: a busy
  etcd is not a dead one, and a hung one is found by gRPC keep-alive, which turns into
  a broken connection (above).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TypeVar

from numaplane.controller.store.contract import StoreError, StoreUnavailableError
from numaplane.controller.store.etcd_client import Endpoint, EtcdClient
from numaplane.controller.store.etcd_errors import (
    EtcdRpcError,
    Failure,
    channel_closure_as_error,
    classify,
    details,
    tls_hint,
    to_store_error,
)
from numaplane.controller.store.settings import EtcdSettings

log = logging.getLogger(__name__)

T = TypeVar("T")


class EtcdConnection:
    """Owns the current EtcdClient; `call` runs a request with fail-over."""

    def __init__(self, settings: EtcdSettings) -> None:
        if not settings.endpoints:
            raise StoreError("no etcd endpoints configured")
        if (settings.username is None) != (settings.password is None):
            raise StoreError("etcd username and password must be given together")
        self.settings = settings
        self.endpoints = tuple(Endpoint.parse(e, settings) for e in settings.endpoints)
        self._client: EtcdClient | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def current_target(self) -> str | None:
        return self._client.endpoint.target if self._client is not None else None

    async def client(self) -> EtcdClient:
        """The live client, connecting first if there is none."""
        if self._client is not None:
            return self._client
        async with self._lock:
            return await self._ensure_client()

    async def reconnect(self, broken: EtcdClient) -> EtcdClient:
        """Replace `broken` with a client of the first endpoint that answers.

        If another task already replaced it, that newer client is returned as is.
        """
        async with self._lock:
            if self._client is broken:
                self._client = None
                await _close_quietly(broken)
            return await self._ensure_client()

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            client, self._client = self._client, None
            if client is not None:
                await _close_quietly(client)

    async def call(
        self, op: str, request: Callable[[EtcdClient], Awaitable[T]], *, idempotent: bool
    ) -> T:
        """Run `request` on the live client, retrying once where that is safe."""
        client = await self.client()
        try:
            with channel_closure_as_error(client.endpoint.target):
                return await request(client)
        except EtcdRpcError as first:
            failure = classify(first)
            retry = failure in (Failure.UNSENT, Failure.UNAUTHENTICATED) or (
                idempotent and failure is Failure.UNAVAILABLE
            )
            if not retry:
                if failure is Failure.UNAVAILABLE:
                    await self._forget(client)
                raise to_store_error(op, client.endpoint.target, first) from first
            log.info(
                "etcd %s at %s failed (%s: %s); reconnecting and retrying once",
                op,
                client.endpoint.target,
                failure.value,
                details(first),
            )
        client = await self.reconnect(client)
        try:
            with channel_closure_as_error(client.endpoint.target):
                return await request(client)
        except EtcdRpcError as second:
            if classify(second) in (Failure.UNSENT, Failure.UNAVAILABLE, Failure.UNAUTHENTICATED):
                await self._forget(client)
            raise to_store_error(op, client.endpoint.target, second) from second

    async def _forget(self, broken: EtcdClient) -> None:
        """Drop a failing client so that the next request starts from the first endpoint."""
        async with self._lock:
            if self._client is broken:
                self._client = None
                await _close_quietly(broken)

    async def _ensure_client(self) -> EtcdClient:
        """Under the lock: the live client, or a new one of the first answering endpoint."""
        if self._closed:
            raise StoreError("the etcd store is closed")
        if self._client is not None:
            return self._client
        failures: list[str] = []
        for endpoint in self.endpoints:
            client = EtcdClient(endpoint, self.settings)
            try:
                await client.probe()
            except EtcdRpcError as e:
                await _close_quietly(client)
                if classify(e) is Failure.OTHER:
                    # The endpoint answered and refused us (bad credentials, ...):
                    # another endpoint of the same cluster would say the same.
                    raise to_store_error("connect", endpoint.target, e) from e
                failures.append(f"{endpoint.target} ({details(e)}{tls_hint(details(e))})")
                continue
            except BaseException:
                await _close_quietly(client)
                raise
            if failures:
                log.warning("etcd: using %s; did not answer: %s", endpoint.target, failures)
            self._client = client
            return client
        raise StoreUnavailableError(
            f"no etcd endpoint answered within {self.settings.timeout_s:g}s; tried "
            + "; ".join(failures)
        )


async def _close_quietly(client: EtcdClient) -> None:
    try:
        await client.close()
    except Exception as e:  # closing a broken channel must not hide the real error
        log.debug("closing etcd client of %s failed: %s", client.endpoint.target, e)
