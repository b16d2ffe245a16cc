"""Closing `watch_with_relist` closes the store watch inside it, before aclose returns.

The admin servicer's event stream (and the reconciler) close their watch when their
RPC or leadership ends. The inner watch must be closed right then, in the caller's
task: left to the garbage collector, its clean-up would run in a task nobody owns.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

import pytest

from numaplane.controller.store import WatchEvent
from numaplane.controller.store.etcd import EtcdStore

pytestmark = pytest.mark.integration

PREFIX = "/numaplane/v1/probe/"


class ClosingRecorder(EtcdStore):
    """The real etcd store, noting when each of its watches has been closed."""

    closed: list[str]

    def watch(self, prefix: str, start_revision: int) -> AsyncGenerator[WatchEvent, None]:
        self.closed = []
        return self._recorded(super().watch(prefix, start_revision), prefix)

    async def _recorded(
        self, inner: AsyncGenerator[WatchEvent, None], prefix: str
    ) -> AsyncGenerator[WatchEvent, None]:
        try:
            async for event in inner:
                yield event
        finally:
            await inner.aclose()
            self.closed.append(prefix)


async def test_closing_a_watch_closes_the_store_watch_at_once(store: EtcdStore) -> None:
    async with ClosingRecorder(store.settings) as recorder:
        _, revision = await recorder.get_prefix(PREFIX)
        changes = recorder.watch_with_relist(PREFIX, revision + 1)
        await recorder.put(PREFIX + "a", "1")
        event = await anext(changes)  # suspended inside the inner watch's loop
        assert event.key == PREFIX + "a"
        await changes.aclose()  # type: ignore[attr-defined]
        assert recorder.closed == [PREFIX]
        # grpc finishes the cancelled call in a task of its own a few loop steps later;
        # one more round trip lets it end before the leaked-task check looks.
        await recorder.get(PREFIX + "a")
