"""ClusterStore over etcd, through aetcd: the implementation the controller runs on.

Every guarantee of the contract (contract.py) maps onto one etcd primitive:

* create / compare_and_swap / txn_put_many / guarded delete are etcd transactions
  guarded by `mod_revision == expected`; etcd compares a missing key as if all its
  revisions were 0, so an expected revision of 0 means "must not exist";
* every read returns the header revision it reflects;
* leases are etcd leases kept alive by EtcdLease (etcd_lease.py);
* watch is a raw etcd watch stream that resumes after reconnects (etcd_watch.py).

The namespace is a plain key prefix: it is added on the way in and removed on the
way out, so callers only ever see their own keys.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator, Sequence
from types import TracebackType
from typing import Any, Self

import grpc
from aetcd import rpc

from numaplane.controller.store.contract import (
    KV,
    ClusterStore,
    Lease,
    LeaseLostError,
    StoreError,
    WatchEvent,
)
from numaplane.controller.store.etcd_client import EtcdClient
from numaplane.controller.store.etcd_connection import EtcdConnection
from numaplane.controller.store.etcd_lease import EtcdLease
from numaplane.controller.store.etcd_watch import watch_range
from numaplane.controller.store.settings import EtcdSettings


class EtcdStore(ClusterStore):
    """The cluster store in one namespace of one etcd cluster."""

    def __init__(self, settings: EtcdSettings | None = None) -> None:
        self.settings = settings or EtcdSettings()
        self._connection = EtcdConnection(self.settings)
        self._namespace = self.settings.namespace.encode()
        self._open_leases: set[EtcdLease] = set()

    @property
    def endpoint(self) -> str | None:
        """The endpoint currently in use (None before connecting)."""
        return self._connection.current_target

    async def connect(self) -> None:
        """Connect to the first endpoint that answers (StoreUnavailableError if none)."""
        await self._connection.client()

    async def close(self) -> None:
        """Stop the keep-alive of leases still open (their keys expire after their TTL,
        as if the process had died: owners that want them gone close them first), then
        close the connection, which ends the watches with StoreError."""
        for lease in list(self._open_leases):
            await lease.close(revoke=False)
        await self._connection.close()

    async def __aenter__(self) -> Self:
        await self.connect()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- reads -------------------------------------------------------------------

    async def get(self, key: str) -> KV | None:
        raw = self._key(key)

        async def request(client: EtcdClient) -> Any:
            return await client.get(raw)

        found = await self._connection.call(f"get {key}", request, idempotent=True)
        return None if found is None else self._kv(found)

    async def get_prefix(self, prefix: str) -> tuple[list[KV], int]:
        start, end = self._range(prefix)

        async def request(client: EtcdClient) -> Any:
            return await client.get_range(start, end, sort_order="ascend", sort_target="key")

        found = await self._connection.call(f"get prefix {prefix}", request, idempotent=True)
        return [self._kv(kv) for kv in found.kvs], int(found.header.revision)

    # -- writes ------------------------------------------------------------------

    async def put(self, key: str, value: str, lease: Lease | None = None) -> int:
        raw, lease_id = self._key(key), _lease_id(lease)

        async def request(client: EtcdClient) -> Any:
            return await client.put(raw, value.encode(), lease=lease_id)

        done = await self._connection.call(f"put {key}", request, idempotent=True)
        return int(done.header.revision)

    async def create(self, key: str, value: str, lease: Lease | None = None) -> int | None:
        return await self.compare_and_swap(key, value, 0, lease)

    async def compare_and_swap(
        self, key: str, value: str, mod_revision: int, lease: Lease | None = None
    ) -> int | None:
        raw = self._key(key)
        answer = await self._txn(
            f"compare-and-swap {key}",
            [_mod_equals(raw, mod_revision)],
            [_put_op(raw, value, _lease_id(lease))],
        )
        return int(answer.header.revision) if answer.succeeded else None

    async def txn_put_many(
        self,
        writes: Sequence[tuple[str, str, int | None]],
        deletes: Sequence[tuple[str, int | None]] = (),
    ) -> int | None:
        compares, ops = [], []
        for key, value, expected in writes:
            raw = self._key(key)
            if expected is not None:
                compares.append(_mod_equals(raw, expected))
            ops.append(_put_op(raw, value, 0))
        for key, expected in deletes:
            raw = self._key(key)
            if expected is not None:
                compares.append(_mod_equals(raw, expected))
            ops.append(_delete_op(raw))
        answer = await self._txn(f"transaction of {len(ops)} operations", compares, ops)
        return int(answer.header.revision) if answer.succeeded else None

    async def delete(self, key: str, mod_revision: int | None = None) -> bool:
        raw = self._key(key)
        compares = [] if mod_revision is None else [_mod_equals(raw, mod_revision)]
        answer = await self._txn(f"delete {key}", compares, [_delete_op(raw)])
        if not answer.succeeded:
            return False
        return int(answer.responses[0].response_delete_range.deleted) > 0

    async def compact(self, revision: int, physical: bool = True) -> None:
        """Drop the history before `revision` (watches from older revisions get
        CompactedError). Not part of the contract: an operations tool."""

        async def request(client: EtcdClient) -> Any:
            return await client.compact(revision, physical=physical)

        await self._connection.call(f"compact to {revision}", request, idempotent=True)

    # -- leases ------------------------------------------------------------------

    async def grant_lease(self, ttl: int) -> EtcdLease:
        """A lease of at least `ttl` seconds (etcd may raise it to its minimum)."""
        if ttl < 1:
            raise ValueError(f"lease TTL must be at least 1 second, got {ttl}")

        async def request(client: EtcdClient) -> Any:
            return await client.lease(ttl)

        granted = await self._connection.call(f"grant lease of {ttl}s", request, idempotent=True)
        lease = EtcdLease(self, int(granted.id), int(granted.ttl), self._open_leases.discard)
        self._open_leases.add(lease)
        return lease

    async def refresh_lease(self, lease_id: int) -> int:
        """One keep-alive round trip; the remaining TTL, 0 when etcd forgot the lease."""
        timeout = self.settings.timeout_s

        async def request(client: EtcdClient) -> Any:
            call = client.leasestub.LeaseKeepAlive(timeout=timeout, metadata=client.metadata)
            try:
                await call.write(rpc.LeaseKeepAliveRequest(ID=lease_id))
                await call.done_writing()
                answer = await call.read()
                # etcd ends the stream after our half-close: wait for that end, so the
                # call is over (not cancelled mid-way) when the refresh returns.
                await call.code()
                return answer
            finally:
                call.cancel()

        answer = await self._connection.call(
            f"refresh lease {lease_id:x}", request, idempotent=True
        )
        if answer is grpc.aio.EOF:
            raise StoreError(f"etcd closed the keep-alive of lease {lease_id:x} unanswered")
        return int(answer.TTL)

    async def revoke_lease(self, lease_id: int) -> None:
        """Revoke; a lease that etcd no longer knows counts as revoked."""

        async def request(client: EtcdClient) -> Any:
            return await client.revoke_lease(lease_id)

        with contextlib.suppress(LeaseLostError):
            await self._connection.call(f"revoke lease {lease_id:x}", request, idempotent=True)

    # -- watch -------------------------------------------------------------------

    def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        """Events under prefix from start_revision (>= 1) on; see etcd_watch.py.

        Close it (`aclose()`) or cancel the task consuming it to end the etcd watch.
        """
        if start_revision < 1:
            raise ValueError(f"watch start_revision must be >= 1, got {start_revision}")
        start, end = self._range(prefix)
        return watch_range(
            self._connection,
            start,
            end,
            start_revision,
            self._decode_key,
            self.settings.reconnect_backoff_s,
        )

    # -- internals ---------------------------------------------------------------

    def _key(self, key: str) -> bytes:
        return self._namespace + key.encode()

    def _decode_key(self, raw: bytes) -> str:
        return raw[len(self._namespace) :].decode()

    def _range(self, prefix: str) -> tuple[bytes, bytes]:
        """[start, end) covering every key that starts with namespace + prefix."""
        start = self._key(prefix)
        return (start, prefix_range_end(start)) if start else (b"\0", b"\0")

    def _kv(self, kv: Any) -> KV:
        return KV(
            key=self._decode_key(kv.key),
            value=kv.value.decode(),
            create_revision=int(kv.create_revision),
            mod_revision=int(kv.mod_revision),
            lease=int(kv.lease),
        )

    async def _txn(self, op: str, compares: list[Any], ops: list[Any]) -> Any:
        request = rpc.TxnRequest(compare=compares, success=ops)
        timeout = self.settings.timeout_s

        async def run(client: EtcdClient) -> Any:
            return await client.kvstub.Txn(request, timeout=timeout, metadata=client.metadata)

        return await self._connection.call(op, run, idempotent=False)


def prefix_range_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with `prefix` (b"\\0" = no end)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return b"\0"
    return stripped[:-1] + bytes([stripped[-1] + 1])


def _lease_id(lease: Lease | None) -> int:
    if lease is None:
        return 0
    if lease.lost.is_set():
        raise LeaseLostError(f"lease {lease.id:x} is lost; keys cannot be bound to it")
    return lease.id


def _mod_equals(key: bytes, mod_revision: int) -> Any:
    return rpc.Compare(
        key=key, target=rpc.Compare.MOD, result=rpc.Compare.EQUAL, mod_revision=mod_revision
    )


def _put_op(key: bytes, value: str, lease_id: int) -> Any:
    return rpc.RequestOp(request_put=rpc.PutRequest(key=key, value=value.encode(), lease=lease_id))


def _delete_op(key: bytes) -> Any:
    return rpc.RequestOp(request_delete_range=rpc.DeleteRangeRequest(key=key))
