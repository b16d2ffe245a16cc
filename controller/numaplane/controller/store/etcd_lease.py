"""An etcd lease kept alive by a task that the Lease object owns.

aetcd grants and revokes leases but keeps none alive. `EtcdLease` refreshes about
every third of the TTL, and decides the lease is lost when

* a refresh answers TTL 0 (etcd's way of saying the lease is unknown: expired or
  revoked by someone else), or
* no refresh has succeeded for a whole TTL, counted from the moment the last
  successful refresh was *sent* (etcd restarts the TTL when it receives it), so by
  then etcd has deleted the keys bound to the lease whatever it says later.

Either way `lost` is set and the loop ends; the owner decides what losing it means
(step down as leader, re-register a host). `close()` stops the loop and revokes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Protocol

from numaplane.controller.store.contract import Lease, StoreError

log = logging.getLogger(__name__)


class LeaseRpc(Protocol):
    """The two lease requests the keep-alive loop needs from the store."""

    async def refresh_lease(self, lease_id: int) -> int:
        """Refresh; the remaining TTL in seconds, 0 if etcd no longer knows the lease."""
        ...

    async def revoke_lease(self, lease_id: int) -> None:
        """Revoke; succeeds if the lease is already gone."""
        ...


class EtcdLease(Lease):
    """A granted lease and its keep-alive task (started by the constructor)."""

    def __init__(
        self,
        rpc: LeaseRpc,
        lease_id: int,
        ttl: int,
        on_close: Callable[[EtcdLease], None] | None = None,
    ) -> None:
        self.id = lease_id
        self.ttl = ttl
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._rpc = rpc
        self._closed = False
        self._on_close = on_close
        loop = asyncio.get_running_loop()
        self._expires_at = loop.time() + ttl
        self._task = loop.create_task(
            self._keep_alive(), name=f"etcd lease {lease_id:x} keep-alive"
        )

    async def close(self, revoke: bool = True) -> None:
        """Stop the keep-alive; revoke unless revoke=False (then it expires after its TTL).

        A revoke that fails (etcd unreachable) is logged, not raised: the lease then
        expires by itself within its TTL, which is the same outcome a little later.
        """
        if self._closed:
            return
        self._closed = True
        if self._on_close is not None:
            self._on_close(self)
        self._task.cancel()
        # asyncio.wait raises CancelledError only if *this* task is cancelled while it
        # waits, never for the keep-alive's own cancellation. Owners close leases in the
        # `finally` of a task that is already being cancelled (a servicer whose RPC grpc
        # cancelled): the revoke must still happen then, or the host stays up for a TTL.
        await asyncio.wait({self._task})
        if not self._task.cancelled():
            self._task.result()  # a keep-alive that crashed: raise its error here
        if revoke and not self.lost.is_set():
            try:
                await self._rpc.revoke_lease(self.id)
            except StoreError as e:
                log.warning(
                    "could not revoke etcd lease %x (it expires in %ss): %s", self.id, self.ttl, e
                )

    async def _keep_alive(self) -> None:
        loop = asyncio.get_running_loop()
        period = self.ttl / 3
        pause = period
        while True:
            await asyncio.sleep(pause)
            sent_at = loop.time()
            remaining = self._expires_at - sent_at
            if remaining <= 0:
                self._mark_lost(f"no successful refresh for its whole TTL of {self.ttl}s")
                return
            try:
                async with asyncio.timeout(remaining):
                    ttl = await self._rpc.refresh_lease(self.id)
            except (StoreError, TimeoutError) as e:
                log.warning("refreshing etcd lease %x failed: %s", self.id, e or "timed out")
                pause = min(period, max(0.0, self._expires_at - loop.time()))
                continue
            if ttl <= 0:
                self._mark_lost("etcd no longer knows it (expired or revoked)")
                return
            self._expires_at = sent_at + ttl
            pause = period

    def _mark_lost(self, reason: str) -> None:
        self.lost_reason = reason
        log.warning("etcd lease %x lost: %s", self.id, reason)
        self.lost.set()
