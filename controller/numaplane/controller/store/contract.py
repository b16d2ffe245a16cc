"""The ClusterStore contract: what the controller needs from its key-value store.

The guarantees, written down so that an implementation (etcd) and any test fake can
be checked against the same list (tests/integration/store/test_store_contract.py):

* Keys and values are `str` (values are JSON documents written by
`numaplane.controller.state.codec`).
* Every read returns the store revision it reflects; every KV carries its
  `create_revision` and `mod_revision`.
* `create(key, value)` succeeds only if the key is absent (atomic).
* `compare_and_swap(key, value, mod_revision)` writes only if the key's current
  mod_revision equals `mod_revision` (0 means "must not exist"); atomic. It is the only
  way to update a key that two writers may race on (claims, commands, leader).
* `put` is a blind write; use it only for keys with a single writer (observed status of
  a host is written by the replica holding that host's stream).
* `txn_put_many` writes several keys atomically, each guarded by an expected
  mod_revision (None = unguarded).
* A `Lease` has a TTL; the store refreshes it in a background keep-alive loop owned by
  the Lease object. If a refresh answers TTL 0 (or the lease is unknown), the lease is
  lost: `lease.lost` is set and keys bound to it are gone. Closing a lease revokes it.
* `watch(prefix, start_revision)` yields events in revision order from
  `start_revision` on. After a disconnect it resumes from the last seen revision + 1;
  if that revision was compacted it raises CompactedError, and the caller re-lists
  (`watch_with_relist` does that for you: it yields a synthetic PUT for every current key).
* Nothing is ever deleted by the store on its own except keys bound to a lost lease.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal


class StoreError(Exception):
    """Base class for store failures."""


class StoreUnavailableError(StoreError):
    """No endpoint answered (all of them were tried)."""


class CompactedError(StoreError):
    """A watch asked for a revision that has been compacted away."""

    def __init__(self, compact_revision: int) -> None:
        super().__init__(f"revision compacted up to {compact_revision}")
        self.compact_revision = compact_revision


class LeaseLostError(StoreError):
    """The lease expired or was revoked; keys bound to it are gone."""


@dataclass(frozen=True)
class KV:
    key: str
    value: str
    create_revision: int
    mod_revision: int
    lease: int = 0


@dataclass(frozen=True)
class WatchEvent:
    type: Literal["put", "delete"]
    key: str
    value: str
    """Empty for a delete."""
    revision: int
    """The mod_revision of the change."""
    prev_value: str | None = None


class Lease(ABC):
    """A lease with a keep-alive loop owned by this object."""

    id: int
    ttl: int
    lost: asyncio.Event

    @abstractmethod
    async def close(self, revoke: bool = True) -> None:
        """Stop the keep-alive loop; revoke the lease unless revoke=False (let it expire)."""


class ClusterStore(ABC):
    @abstractmethod
    async def connect(self) -> None: ...

    @abstractmethod
    async def close(self) -> None: ...

    @abstractmethod
    async def get(self, key: str) -> KV | None: ...

    @abstractmethod
    async def get_prefix(self, prefix: str) -> tuple[list[KV], int]:
        """All keys under prefix, sorted by key, and the revision they reflect."""

    @abstractmethod
    async def put(self, key: str, value: str, lease: Lease | None = None) -> int:
        """Blind write; returns the new revision."""

    @abstractmethod
    async def create(self, key: str, value: str, lease: Lease | None = None) -> int | None:
        """Write only if absent; the new revision, or None if the key exists."""

    @abstractmethod
    async def compare_and_swap(
        self, key: str, value: str, mod_revision: int, lease: Lease | None = None
    ) -> int | None:
        """Write only if the key's mod_revision equals mod_revision (0 = absent).

        Returns the new revision, or None when the comparison failed.
        """

    @abstractmethod
    async def txn_put_many(
        self,
        writes: Sequence[tuple[str, str, int | None]],
        deletes: Sequence[tuple[str, int | None]] = (),
    ) -> int | None:
        """Atomically apply (key, value, expected mod_revision or None) writes and
        (key, expected mod_revision or None) deletes; None if any guard failed."""

    @abstractmethod
    async def delete(self, key: str, mod_revision: int | None = None) -> bool:
        """Delete (guarded by mod_revision when given); True if something was deleted."""

    @abstractmethod
    async def grant_lease(self, ttl: int) -> Lease: ...

    @abstractmethod
    def watch(self, prefix: str, start_revision: int) -> AsyncIterator[WatchEvent]:
        """Events under prefix from start_revision; raises CompactedError if too old."""

    async def watch_with_relist(
        self, prefix: str, start_revision: int | None = None
    ) -> AsyncIterator[WatchEvent]:
        """Watch forever; on compaction (or when start_revision is None) re-list first.

        A re-list yields a put event for every current key (revision = list revision);
        consumers are level-triggered so replays are harmless.
        """
        next_rev = start_revision
        while True:
            if next_rev is None:
                kvs, rev = await self.get_prefix(prefix)
                for kv in kvs:
                    yield WatchEvent("put", kv.key, kv.value, kv.mod_revision)
                next_rev = rev + 1
            events = self.watch(prefix, next_rev)
            try:
                async for ev in events:
                    next_rev = ev.revision + 1
                    yield ev
            except CompactedError:
                next_rev = None
            finally:
                # When our consumer closes us, close the inner watch here, in the
                # consumer's task: left to the garbage collector, its cleanup would run
                # in a task that nobody owns.
                if isinstance(events, AsyncGenerator):
                    await events.aclose()


def decode_mapping(kvs: Sequence[KV]) -> Mapping[str, KV]:
    """Key -> KV, for callers that look keys up more than once."""
    return {kv.key: kv for kv in kvs}
