"""Fixtures every tier shares: the leaked-task check, and a real etcd.

Every asyncio task has an owner: a test that leaves a task running fails, as in kopf.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    yield
    # Let tasks that are finishing run their last step before judging.
    for _ in range(5):
        await asyncio.sleep(0)
    current = asyncio.current_task()
    leaked = [t for t in asyncio.all_tasks() - before if t is not current and not t.done()]
    for t in leaked:
        t.cancel()
    if leaked:
        await asyncio.gather(*leaked, return_exceptions=True)
        names = ", ".join(sorted(t.get_name() + ":" + repr(t.get_coro()) for t in leaked))
        pytest.fail(f"test leaked {len(leaked)} asyncio task(s): {names}")
