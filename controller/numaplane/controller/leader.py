"""Leader election on etcd, the way etcd's own concurrency package does it.

Create-if-absent of the leader key under this replica's lease; the key's create
revision is the fencing epoch, strictly greater for every new leader. Commands carry
it, and an agent refuses a command from an older epoch. Leadership ends when the
lease is lost (this replica could not reach etcd within the TTL) or on stop, when the
key is deleted so that another replica takes over at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore, Lease, StoreError
from numaplane.v1 import state_pb2

log = logging.getLogger(__name__)


class LeaderElection:
    def __init__(self, store: ClusterStore, controller_id: str, ttl_s: int) -> None:
        self._store = store
        self._id = controller_id
        self._ttl = ttl_s
        self.elected = asyncio.Event()
        self.epoch = 0
        self._lease: Lease | None = None

    @property
    def is_leader(self) -> bool:
        return self.elected.is_set()

    async def campaign(self) -> None:
        """Become leader (waiting for the incumbent to go); returns once elected."""
        while True:
            lease = await self._store.grant_lease(self._ttl)
            record = state_pb2.LeaderRecord(controller_id=self._id, since=time.time())
            rev = await self._store.create(keyspace.LEADER, encode(record), lease=lease)
            if rev is not None:
                self._lease = lease
                self.epoch = rev
                self.elected.set()
                log.info("%s is the leader (epoch %d)", self._id, rev)
                return
            await lease.close(revoke=True)
            await self._wait_for_vacancy()

    async def _wait_for_vacancy(self) -> None:
        kv = await self._store.get(keyspace.LEADER)
        if kv is None:
            return
        async for ev in self._store.watch(keyspace.LEADER, kv.mod_revision + 1):
            if ev.key == keyspace.LEADER and ev.type == "delete":
                return

    async def hold(self) -> None:
        """Return when leadership is lost (the lease is gone)."""
        assert self._lease is not None
        await self._lease.lost.wait()
        log.warning("%s lost leadership (epoch %d): lease lost", self._id, self.epoch)
        self.elected.clear()

    async def resign(self) -> None:
        """Give up leadership: delete the key (guarded) and revoke the lease."""
        self.elected.clear()
        lease, self._lease = self._lease, None
        if lease is None:
            return
        with contextlib.suppress(StoreError):
            await self._store.delete(keyspace.LEADER, mod_revision=self.epoch)
        with contextlib.suppress(StoreError):
            await lease.close(revoke=True)
