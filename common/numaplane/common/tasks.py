"""Small helpers so that every task has an owner and a cancelled owner cleans up.

`race` is used instead of asyncio.TaskGroup for "run these until one ends": on Python
3.11 a TaskGroup whose child fails while the parent already waits in __aexit__ cancels
the parent without ever uncancelling it, and can swallow an external cancellation
behind the child's error; a long-lived loop (the agent's reconnect loop) then either
never stops or stops by itself. `race` has neither problem.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any


async def race(*coros: Coroutine[Any, Any, Any]) -> None:
    """Run coroutines until the first finishes; cancel and await the rest; re-raise its error."""
    tasks = [asyncio.create_task(c) for c in coros]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    for t in done:
        if not t.cancelled() and t.exception() is not None:
            raise t.exception()  # type: ignore[misc]
