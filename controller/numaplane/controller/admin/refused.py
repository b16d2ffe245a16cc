"""A request the admin API refuses, with the gRPC status it answers.

Handlers raise `Refused` (from their validation, or when a compare-and-swap kept losing)
and change nothing; the servicer turns it into the status and its one-line message, which
the CLI prints as it is.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

import grpc

from numaplane.controller.state.cas import ConflictError, with_retries

T = TypeVar("T")


class Refused(Exception):
    """A request the API refuses; `code` is the gRPC status, `message` says why."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> Refused:
    """A request whose values are wrong: INVALID_ARGUMENT."""
    return Refused(grpc.StatusCode.INVALID_ARGUMENT, message)


async def retrying(attempt: Callable[[], Awaitable[T | None]]) -> T:
    """`with_retries`, a lost race answered ABORTED (the operator may simply retry)."""
    try:
        return await with_retries(attempt)
    except ConflictError as e:
        raise Refused(grpc.StatusCode.ABORTED, str(e)) from None
