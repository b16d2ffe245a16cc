"""What went wrong talking to etcd, as StoreError subclasses with clear messages.

Two error vocabularies arrive here: aetcd's ClientError family (from the aetcd methods,
which keep the gRPC error as `__cause__`) and raw `grpc.aio.AioRpcError` (from the
stubs we drive ourselves). Both are reduced to a gRPC status code first, so retry
decisions and messages do not depend on which path an error came from.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
from collections.abc import Iterator

import grpc
from aetcd import exceptions as aetcd_errors

from numaplane.controller.store.contract import LeaseLostError, StoreError, StoreUnavailableError


class ChannelClosedError(Exception):
    """The request's channel was closed under it (another task reconnected, or the
    store was closed); whether a mutation was applied is unknown."""


EtcdRpcError = (aetcd_errors.ClientError, grpc.aio.AioRpcError, ChannelClosedError)
"""Exception types an etcd request can fail with (catch these, then `to_store_error`)."""

_NOT_SENT_MARKER = "failed to connect to all addresses"
"""gRPC's wording when a request failed before it was written to any connection."""

_AETCD_CODES: dict[type[Exception], grpc.StatusCode] = {
    aetcd_errors.ConnectionFailedError: grpc.StatusCode.UNAVAILABLE,
    aetcd_errors.ConnectionTimeoutError: grpc.StatusCode.DEADLINE_EXCEEDED,
    aetcd_errors.UnauthenticatedError: grpc.StatusCode.UNAUTHENTICATED,
    aetcd_errors.InvalidArgumentError: grpc.StatusCode.INVALID_ARGUMENT,
    aetcd_errors.PreconditionFailedError: grpc.StatusCode.FAILED_PRECONDITION,
    aetcd_errors.InternalError: grpc.StatusCode.INTERNAL,
}


class Failure(enum.Enum):
    """How a failed request may be retried."""

    UNSENT = "unsent"
    """The request never left: always safe to retry elsewhere."""
    UNAVAILABLE = "unavailable"
    """The endpoint failed mid-request: a mutation may or may not have been applied."""
    TIMEOUT = "timeout"
    """No answer in time: the outcome of a mutation is unknown."""
    UNAUTHENTICATED = "unauthenticated"
    """The auth token expired or was rejected: re-authenticate, then retry."""
    OTHER = "other"
    """etcd answered with an error; retrying will not help."""


def status_code(error: BaseException) -> grpc.StatusCode | None:
    """The gRPC status behind an aetcd or grpc error, if there is one."""
    if isinstance(error, grpc.aio.AioRpcError):
        return error.code()
    if isinstance(error.__cause__, grpc.aio.AioRpcError):
        return error.__cause__.code()
    for cls, code in _AETCD_CODES.items():
        if isinstance(error, cls):
            return code
    return None


def details(error: BaseException) -> str:
    if isinstance(error, grpc.aio.AioRpcError):
        return error.details() or error.code().name
    return str(error) or type(error).__name__


@contextlib.contextmanager
def channel_closure_as_error(target: str) -> Iterator[None]:
    """Turn grpc.aio's CancelledError for a locally cancelled call into ChannelClosedError.

    grpc.aio raises asyncio.CancelledError from a call that was cancelled locally, and
    closing a channel cancels its calls. Unless this task itself is being cancelled,
    that CancelledError means "the channel went away" and must not end the task.
    """
    try:
        yield
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        raise ChannelClosedError(f"the connection to {target} was closed") from None


def classify(error: BaseException) -> Failure:
    if isinstance(error, ChannelClosedError):
        return Failure.UNAVAILABLE
    code = status_code(error)
    if code == grpc.StatusCode.UNAVAILABLE:
        if details(error).startswith(_NOT_SENT_MARKER):
            return Failure.UNSENT
        return Failure.UNAVAILABLE
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return Failure.TIMEOUT
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return Failure.UNAUTHENTICATED
    return Failure.OTHER


def to_store_error(op: str, target: str, error: BaseException) -> StoreError:
    """A StoreError subclass whose message names the operation and the endpoint."""
    text = details(error)
    failure = classify(error)
    where = f"etcd {op} at {target}"
    if failure in (Failure.UNSENT, Failure.UNAVAILABLE):
        return StoreUnavailableError(f"{where}: unavailable: {text}{tls_hint(text)}")
    if failure is Failure.TIMEOUT:
        return StoreUnavailableError(f"{where}: no answer in time (outcome unknown): {text}")
    if failure is Failure.UNAUTHENTICATED:
        return StoreError(f"{where}: not authenticated: {text}")
    if "lease not found" in text:
        return LeaseLostError(f"{where}: {text}")
    return StoreError(f"{where}: {text}")


def tls_hint(text: str) -> str:
    """A pointer to the likely cause when the failure looks like a TLS mismatch."""
    lowered = text.lower()
    if "socket closed" in lowered:
        return " (if this etcd serves TLS, set ca_file or use an https:// endpoint)"
    if "handshake" in lowered or "ssl" in lowered or "certificate" in lowered:
        return " (TLS handshake failed: check ca_file, cert_file, key_file)"
    return ""
