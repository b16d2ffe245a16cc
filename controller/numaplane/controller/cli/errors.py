"""How the CLI fails: one clear line on stderr and a non-zero exit code.

`CliError` is a click exception, so the command tree reports it like a usage error
(exit 1 instead of 2). `explain_rpc_error` turns a gRPC status into words about the
controller, because "StatusCode.UNAVAILABLE: failed to connect to all addresses" is
what an operator should never have to decode.
"""

from __future__ import annotations

import click
import grpc

EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


class CliError(click.ClickException):
    """An operational failure (unreachable controller, unknown name, failed command)."""

    exit_code = EXIT_FAILURE


_CONNECT_REASONS = (
    ("connection refused", "connection refused"),
    ("dns resolution failed", "name not resolved"),
    ("errors resolving", "name not resolved"),
    ("name resolution", "name not resolved"),
    ("no route to host", "no route to host"),
    ("network is unreachable", "network unreachable"),
    ("timed out", "connection timed out"),
    ("deadline", "connection timed out"),
    ("connection reset", "connection reset"),
    ("socket closed", "connection closed"),
    ("ssl", "TLS handshake failed"),
    ("handshake", "TLS handshake failed"),
)


def explain_rpc_error(error: grpc.RpcError, address: str, timeout: float | None) -> CliError:
    """One sentence for a failed call to the controller at `address`."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else str(error)) or ""
    if code == grpc.StatusCode.UNAVAILABLE and _is_transport_failure(details):
        return CliError(f"cannot reach controller at {address} ({connect_reason(details)})")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        within = f" within {timeout:g}s" if timeout is not None else ""
        return CliError(f"controller at {address} did not answer{within}")
    if code in (
        grpc.StatusCode.NOT_FOUND,
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.ALREADY_EXISTS,
        grpc.StatusCode.FAILED_PRECONDITION,
    ):
        return CliError(details or code.name.lower())
    if code == grpc.StatusCode.UNIMPLEMENTED and "http2 header with status" in details:
        # Something answered HTTP/2, but not gRPC: a proxy or another kind of server.
        status = details.rsplit(" ", 1)[-1]
        return CliError(f"{address} is not a numaplane controller (it answered HTTP {status})")
    if code == grpc.StatusCode.UNIMPLEMENTED:
        return CliError(f"controller at {address} does not serve this part of the admin API")
    if code == grpc.StatusCode.CANCELLED:
        return CliError(f"call to controller at {address} was cancelled")
    return CliError(f"controller at {address}: {details or code.name.lower()}")


def connect_reason(details: str) -> str:
    """The short cause inside grpc's connection-failure text."""
    lowered = details.lower()
    for needle, reason in _CONNECT_REASONS:
        if needle in lowered:
            return reason
    # grpc: "failed to connect to all addresses; last error: UNKNOWN: ipv4:...: <cause>"
    return details.rsplit(": ", 1)[-1].strip() or "unavailable"


def _is_transport_failure(details: str) -> bool:
    """UNAVAILABLE from the channel itself, not a message the controller sent."""
    lowered = details.lower()
    return (
        "failed to connect" in lowered
        or "connect failed" in lowered
        or "connection refused" in lowered
        or "dns resolution failed" in lowered
        or "errors resolving" in lowered
        or "socket closed" in lowered
        or "connection reset" in lowered
        or "ssl" in lowered
        or not lowered
    )
