"""Rewriting a stored record by compare-and-swap, retried when someone else wrote first.

Every write of operator intent (a balloon target, the policy record) is a CAS on the
mod_revision the writer read, so two operators — or an operator and a leader loop
rewriting the same record — never lose each other's change: the loser re-reads, checks
again against what it now sees, and tries once more.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

ATTEMPTS = 5
"""Rounds of read-check-CAS before giving up: contention beyond this is a client's retry."""


class ConflictError(Exception):
    """Someone else kept writing the same record; nothing was changed."""


async def with_retries(attempt: Callable[[], Awaitable[T | None]]) -> T:
    """Run `attempt` (read, check, CAS; None = lost the CAS) until it wins."""
    for _ in range(ATTEMPTS):
        result = await attempt()
        if result is not None:
            return result
    raise ConflictError(f"the record kept changing under {ATTEMPTS} attempts; retry")
