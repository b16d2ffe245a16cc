"""Real etcd for the integration tier: one shared process, and private ones on demand.

The shared etcd lives for the whole session; each test gets its own namespace in it
(`store`), so tests never see each other's keys. Tests that restart, compact or
reconfigure etcd take a private process (`private_etcd`) instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.settings import EtcdSettings
from tests.support.etcd import EtcdFactory, StoreFactory, unique_namespace

_GRPC_SETTLE_S = 2.0


@pytest.fixture(scope="session")
def etcd() -> Iterator[EmbeddedEtcd]:
    """The session's shared etcd (fsync off: tests do not need durability)."""
    server = EmbeddedEtcd(unsafe_no_fsync=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def private_etcd() -> Iterator[EtcdFactory]:
    """Start etcd processes of this test's own (same arguments as EmbeddedEtcd)."""
    started: list[EmbeddedEtcd] = []

    def start(**kwargs: Any) -> EmbeddedEtcd:
        kwargs.setdefault("unsafe_no_fsync", True)
        server = EmbeddedEtcd(**kwargs)
        started.append(server)
        server.start()
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture
async def make_store(etcd: EmbeddedEtcd) -> AsyncIterator[StoreFactory]:
    """Connected EtcdStores (shared etcd and a fresh namespace unless overridden),
    all closed at teardown."""
    stores: list[EtcdStore] = []

    async def make(**overrides: Any) -> EtcdStore:
        fields: dict[str, Any] = {
            "endpoints": (etcd.endpoint,),
            "namespace": unique_namespace(),
            "timeout_s": 5.0,
        }
        fields.update(overrides)
        store = EtcdStore(EtcdSettings(**fields))
        stores.append(store)
        await store.connect()
        return store

    yield make
    for store in stores:
        await store.close()


@pytest.fixture
async def store(make_store: StoreFactory) -> EtcdStore:
    """A connected EtcdStore on the shared etcd, in a namespace of this test's own."""
    return await make_store()


def _is_grpc_call_internal(task: asyncio.Task[object]) -> bool:
    return getattr(task.get_coro(), "__qualname__", "").startswith("_AioCall.")


@pytest.fixture(autouse=True)
async def _grpc_calls_settle() -> AsyncIterator[None]:
    """Let grpc.aio's own per-call tasks end before tests/conftest.py looks for leaks.

    grpc.aio runs an internal task per streaming call that returns only when the C core
    reports the call's final status; after a local cancel (how a watch ends) that report
    comes from grpc's poller thread, a few loop iterations later or more on a busy
    machine. Only those tasks get this grace, and if one is still running after it the
    leak check fails the test as usual.
    """
    before = set(asyncio.all_tasks())
    yield
    loop = asyncio.get_running_loop()
    deadline = loop.time() + _GRPC_SETTLE_S
    while loop.time() < deadline:
        if not any(
            _is_grpc_call_internal(t) and not t.done() for t in asyncio.all_tasks() - before
        ):
            return
        await asyncio.sleep(0.01)
