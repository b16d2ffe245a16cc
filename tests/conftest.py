"""Fixtures every tier shares: the leaked-task check, and a real etcd.

Every asyncio task has an owner: a test that leaves a task running fails, as in kopf.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import pytest

STALL_DUMP_S = 60.0
"""A test still running after this long gets every task's stack printed (a diagnosis
aid for hangs; pytest-timeout, not this, fails the test)."""


def _dump_tasks() -> None:
    print(f"\n=== asyncio tasks after {STALL_DUMP_S:.0f} s ===", file=sys.stderr)
    for task in asyncio.all_tasks():
        print(f"--- {task.get_name()}", file=sys.stderr)
        task.print_stack(limit=12, file=sys.stderr)


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    before = set(asyncio.all_tasks())
    stall = asyncio.get_running_loop().call_later(STALL_DUMP_S, _dump_tasks)
    try:
        yield
    finally:
        stall.cancel()
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
