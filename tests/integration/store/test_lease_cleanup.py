"""A lease closed while its owner is being cancelled is still revoked.

This is how every agent stream ends that the agent does not close politely (its process
died, its connection broke, it sent a message over the size limit): grpc.aio cancels the
servicer's task, and the session's `finally` closes the host's liveness lease. The
revoke must happen then, so that the host shows `down` at once rather than after the
lease's TTL.
"""

from __future__ import annotations

import asyncio

import pytest

from numaplane.controller.store.etcd import EtcdStore

pytestmark = pytest.mark.integration

LONG_TTL = 600
"""Far longer than the test runs: a key that is gone was revoked, not expired."""


async def test_close_in_a_cancelled_owner_revokes_the_lease(store: EtcdStore) -> None:
    holding = asyncio.Event()

    async def owner() -> None:
        lease = await store.grant_lease(LONG_TTL)
        try:
            await store.put("/alive", "yes", lease=lease)
            holding.set()
            await asyncio.Event().wait()  # held until cancelled
        finally:
            await lease.close(revoke=True)

    task = asyncio.create_task(owner())
    await holding.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert await store.get("/alive") is None


async def test_a_second_cancellation_during_close_still_propagates(store: EtcdStore) -> None:
    """Close must not swallow a cancellation that arrives while it waits."""
    lease = await store.grant_lease(LONG_TTL)
    entered = asyncio.Event()

    async def closer() -> None:
        entered.set()
        await lease.close(revoke=True)

    task = asyncio.create_task(closer())
    await entered.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
