"""A prefix watch that survives etcd restarts and reports compaction.

aetcd's Watcher multiplexes all watches over one stream run by a task of its own,
turns a compaction into an error delivered to a callback, and ignores a `canceled`
answer for any other reason. We drive the raw `Watch` stub instead: one gRPC stream
per watch, read by the consumer's own task (so nothing outlives a cancelled
consumer: the `finally` cancels the call), and every answer handled here:

* `compact_revision != 0` (etcd then also sets `canceled`): CompactedError;
* `canceled` with "permission denied": etcd 3.5 checks the token when a watch is
  created and answers so for an expired token, so re-authenticate once and retry;
* `canceled` for another reason (or again right after re-authenticating): StoreError
  with etcd's `cancel_reason`;
* the stream breaking (etcd restarted, connection lost, token expired): reconnect with
  backoff, possibly to another endpoint, and resume from last seen revision + 1.

All events of one revision arrive in one answer (fragmenting is off), so resuming
from the next revision neither repeats nor skips an event.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncGenerator, Callable, Sequence

import grpc
from aetcd import rpc

from numaplane.controller.store.contract import (
    CompactedError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)
from numaplane.controller.store.etcd_client import EtcdClient
from numaplane.controller.store.etcd_connection import EtcdConnection
from numaplane.controller.store.etcd_errors import (
    ChannelClosedError,
    Failure,
    channel_closure_as_error,
    classify,
    details,
    to_store_error,
)

log = logging.getLogger(__name__)

_RESUMABLE = (Failure.UNSENT, Failure.UNAVAILABLE, Failure.TIMEOUT, Failure.UNAUTHENTICATED)
_PERMISSION_DENIED = "permission denied"


class _StreamBroke(Exception):
    """The stream ended without an error status (etcd closed it): resume."""


class _TokenRefused(Exception):
    """etcd refused to create the watch, maybe only because our token expired."""


async def watch_range(
    connection: EtcdConnection,
    key: bytes,
    range_end: bytes,
    start_revision: int,
    decode_key: Callable[[bytes], str],
    backoff_s: Sequence[float],
) -> AsyncGenerator[WatchEvent, None]:
    """Events on [key, range_end) from start_revision on, in revision order, forever."""
    next_revision = start_revision
    pauses = _pauses(backoff_s)
    reauthenticated = False
    while True:
        try:
            client = await connection.client()
        except StoreUnavailableError as e:
            await _pause(next(pauses), e)
            continue
        call = client.watchstub.Watch(metadata=client.metadata)
        target = client.endpoint.target
        try:
            with channel_closure_as_error(target):
                await call.write(_create_request(key, range_end, next_revision))
            while True:
                with channel_closure_as_error(target):
                    answer = await call.read()
                if answer is grpc.aio.EOF:
                    raise _StreamBroke("etcd ended the watch stream")
                if answer.compact_revision:
                    raise CompactedError(answer.compact_revision)
                if answer.canceled:
                    reason = answer.cancel_reason or "no reason given"
                    if _PERMISSION_DENIED in reason and not reauthenticated:
                        raise _TokenRefused(reason)
                    raise StoreError(
                        f"etcd canceled the watch from revision {next_revision}: {reason}"
                    )
                if answer.created:
                    pauses = _pauses(backoff_s)
                    reauthenticated = False
                for event in answer.events:
                    next_revision = event.kv.mod_revision + 1
                    yield _to_watch_event(event, decode_key)
        except grpc.aio.AioRpcError as e:
            if classify(e) not in _RESUMABLE and e.code() != grpc.StatusCode.CANCELLED:
                raise to_store_error("watch", target, e) from e
            interruption: Exception = e
        except (_StreamBroke, _TokenRefused, ChannelClosedError) as e:
            interruption = e
        finally:
            call.cancel()
        # Only an interruption leaves the stream loop without raising: resume.
        if isinstance(interruption, _TokenRefused):
            log.info("watch refused (%s); re-authenticating once", interruption)
            reauthenticated = True
        else:
            await _pause(next(pauses), interruption)
        await _reconnect(connection, client)


async def _reconnect(connection: EtcdConnection, broken: EtcdClient) -> None:
    """Replace the broken client; if no endpoint answers, the next loop waits again."""
    try:
        await connection.reconnect(broken)
    except StoreUnavailableError as e:
        log.info("watch: etcd still unavailable: %s", e)


def _create_request(key: bytes, range_end: bytes, start_revision: int) -> rpc.WatchRequest:
    return rpc.WatchRequest(
        create_request=rpc.WatchCreateRequest(
            key=key, range_end=range_end, start_revision=start_revision, prev_kv=True
        )
    )


def _to_watch_event(event: rpc.Event, decode_key: Callable[[bytes], str]) -> WatchEvent:
    deleted = event.type == rpc.Event.DELETE
    prev = event.prev_kv.value.decode() if event.HasField("prev_kv") else None
    return WatchEvent(
        type="delete" if deleted else "put",
        key=decode_key(event.kv.key),
        value="" if deleted else event.kv.value.decode(),
        revision=event.kv.mod_revision,
        prev_value=prev,
    )


def _pauses(backoff_s: Sequence[float]) -> itertools.chain[float]:
    """The backoff sequence, its last pause repeated forever."""
    steps = tuple(backoff_s) or (1.0,)
    return itertools.chain(steps, itertools.repeat(steps[-1]))


async def _pause(seconds: float, why: BaseException) -> None:
    log.info("watch interrupted (%s); resuming in %.2fs", details(why), seconds)
    await asyncio.sleep(seconds)
