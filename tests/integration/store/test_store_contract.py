"""Every guarantee of the ClusterStore contract, checked against a real etcd.

The list follows controller/numaplane/controller/store/contract.py's docstring, then the
etcd-specific promises of EtcdStore: endpoint fail-over, TLS, auth-token refresh. Waits are
event-driven (a watch event, `lease.lost`); `_GUARD_S` only turns a hang into a
failure with a message and is never a performance limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.request
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import aetcd
import grpc
import pytest
from aetcd import rpc

from numaplane.controller.store.contract import (
    CompactedError,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, free_port
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.selfsigned_tls import make_test_pki
from tests.support.etcd import EtcdFactory, StoreFactory

pytestmark = pytest.mark.integration

_GUARD_S = 30.0


@contextlib.asynccontextmanager
async def watching(
    events: AsyncIterator[WatchEvent],
) -> AsyncIterator[AsyncIterator[WatchEvent]]:
    """Close the watch when the block ends, as a consumer must (it ends the gRPC stream)."""
    try:
        yield events
    finally:
        if isinstance(events, AsyncGenerator):
            await events.aclose()


async def next_event(events: AsyncIterator[WatchEvent]) -> WatchEvent:
    async with asyncio.timeout(_GUARD_S):
        return await anext(events)


async def take(events: AsyncIterator[WatchEvent], n: int) -> list[WatchEvent]:
    return [await next_event(events) for _ in range(n)]


def summary(events: list[WatchEvent]) -> list[tuple[str, str, str]]:
    return [(e.type, e.key, e.value) for e in events]


async def wait_set(event: asyncio.Event) -> None:
    async with asyncio.timeout(_GUARD_S):
        await event.wait()


class LogWaiter(logging.Handler):
    """Sets `seen` when a log record containing `needle` is emitted."""

    def __init__(self, needle: str) -> None:
        super().__init__(level=logging.DEBUG)
        self.needle = needle
        self.seen = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.needle in record.getMessage():
            self.seen.set()


# -- keys, values, revisions -------------------------------------------------------


async def test_put_and_get_report_revisions(store: EtcdStore) -> None:
    assert await store.get("/numaplane/v1/vms/a/status") is None
    first = await store.put("/numaplane/v1/vms/a/status", '{"v": 1}')
    second = await store.put("/numaplane/v1/vms/a/status", '{"v": 2}')
    assert second > first
    kv = await store.get("/numaplane/v1/vms/a/status")
    assert kv is not None
    assert (kv.key, kv.value) == ("/numaplane/v1/vms/a/status", '{"v": 2}')
    assert (kv.create_revision, kv.mod_revision, kv.lease) == (first, second, 0)


async def test_get_prefix_is_sorted_bounded_and_has_the_revision(store: EtcdStore) -> None:
    for key in ("/h/c", "/h/a", "/h/b", "/hx", "/g"):
        last = await store.put(key, key)
    kvs, revision = await store.get_prefix("/h/")
    assert [kv.key for kv in kvs] == ["/h/a", "/h/b", "/h/c"]
    assert revision >= last
    everything, _ = await store.get_prefix("")
    assert [kv.key for kv in everything] == ["/g", "/h/a", "/h/b", "/h/c", "/hx"]


async def test_create_only_if_absent(store: EtcdStore) -> None:
    revision = await store.create("/claims/h1/vm1", "one")
    assert revision is not None
    assert await store.create("/claims/h1/vm1", "two") is None
    kv = await store.get("/claims/h1/vm1")
    assert kv is not None and (kv.value, kv.mod_revision) == ("one", revision)


async def test_compare_and_swap(store: EtcdStore) -> None:
    created = await store.compare_and_swap("/k", "v1", 0)
    assert created is not None
    assert await store.compare_and_swap("/k", "again", 0) is None, "0 means must not exist"
    updated = await store.compare_and_swap("/k", "v2", created)
    assert updated is not None and updated > created
    assert await store.compare_and_swap("/k", "stale", created) is None
    kv = await store.get("/k")
    assert kv is not None and (kv.value, kv.mod_revision) == ("v2", updated)


async def test_txn_is_all_or_nothing(store: EtcdStore) -> None:
    a = await store.put("/a", "a0")
    await store.put("/gone", "x")
    failed = await store.txn_put_many(
        [("/a", "a1", a), ("/b", "b1", None), ("/c", "c1", 999_999)], deletes=[("/gone", None)]
    )
    assert failed is None
    kvs, _ = await store.get_prefix("/")
    assert {kv.key: kv.value for kv in kvs} == {"/a": "a0", "/gone": "x"}

    done = await store.txn_put_many(
        [("/a", "a1", a), ("/b", "b1", 0), ("/c", "c1", None)], deletes=[("/gone", None)]
    )
    assert done is not None
    kvs, _ = await store.get_prefix("/")
    assert {kv.key: (kv.value, kv.mod_revision) for kv in kvs} == {
        "/a": ("a1", done),
        "/b": ("b1", done),
        "/c": ("c1", done),
    }


async def test_txn_error_is_a_store_error_with_etcds_reason(store: EtcdStore) -> None:
    with pytest.raises(StoreError, match="duplicate key"):
        await store.txn_put_many([("/same", "1", None), ("/same", "2", None)])


async def test_delete_guarded_and_unguarded(store: EtcdStore) -> None:
    first = await store.put("/d", "1")
    await store.put("/d", "2")
    assert await store.delete("/d", mod_revision=first) is False
    assert await store.get("/d") is not None
    current = await store.get("/d")
    assert current is not None
    assert await store.delete("/d", mod_revision=current.mod_revision) is True
    assert await store.get("/d") is None
    assert await store.delete("/d") is False
    await store.put("/e", "1")
    assert await store.delete("/e") is True


async def test_namespaces_do_not_see_each_other(make_store: StoreFactory) -> None:
    left = await make_store(namespace="/cluster-left")
    right = await make_store(namespace="/cluster-right")
    await left.put("/numaplane/v1/leader", "left")
    start = await right.put("/numaplane/v1/leader", "right")
    left_kv, right_kv = (
        await left.get("/numaplane/v1/leader"),
        await right.get("/numaplane/v1/leader"),
    )
    assert left_kv is not None and left_kv.value == "left"
    assert right_kv is not None and right_kv.value == "right"
    assert [kv.key for kv in (await left.get_prefix(""))[0]] == ["/numaplane/v1/leader"]
    async with watching(right.watch("", start)) as events:
        await left.put("/numaplane/v1/other", "left only")
        await right.put("/numaplane/v1/mine", "right")
        seen = await take(events, 2)
    assert summary(seen) == [
        ("put", "/numaplane/v1/leader", "right"),
        ("put", "/numaplane/v1/mine", "right"),
    ]
    await left.delete("/numaplane/v1/leader")
    await left.delete("/numaplane/v1/other")
    await right.delete("/numaplane/v1/leader")
    await right.delete("/numaplane/v1/mine")


# -- leases ------------------------------------------------------------------------


async def test_revoking_a_lease_deletes_its_keys(store: EtcdStore) -> None:
    lease = await store.grant_lease(5)
    await store.put("/hosts/h1/alive", "yes", lease)
    kv = await store.get("/hosts/h1/alive")
    assert kv is not None and kv.lease == lease.id
    await lease.close()
    assert await store.get("/hosts/h1/alive") is None
    assert not lease.lost.is_set()


async def test_lease_expires_when_keep_alive_stops(store: EtcdStore) -> None:
    lease = await store.grant_lease(1)
    start = await store.put("/hosts/h1/alive", "yes", lease)
    await lease.close(revoke=False)
    async with watching(store.watch("/hosts/", start + 1)) as events:
        gone = await next_event(events)
    assert (gone.type, gone.key) == ("delete", "/hosts/h1/alive")


async def test_keep_alive_holds_a_lease_past_its_ttl(store: EtcdStore) -> None:
    lease = await store.grant_lease(1)
    assert lease.ttl == 1, "EmbeddedEtcd's raft timing allows 1-second leases"
    await store.put("/hosts/h1/alive", "yes", lease)
    await asyncio.sleep(3 * lease.ttl)
    assert await store.get("/hosts/h1/alive") is not None
    assert not lease.lost.is_set()
    await lease.close()


async def test_lease_revoked_elsewhere_is_detected_as_lost(
    store: EtcdStore, etcd: EmbeddedEtcd
) -> None:
    lease = await store.grant_lease(2)
    await store.put("/hosts/h1/alive", "yes", lease)
    async with aetcd.Client(host=etcd.host, port=etcd.port) as other:
        await other.revoke_lease(lease.id)
    await wait_set(lease.lost)
    assert await store.get("/hosts/h1/alive") is None
    with pytest.raises(LeaseLostError):
        await store.put("/hosts/h1/alive", "again", lease)
    await lease.close()


async def test_lease_is_lost_when_etcd_is_unreachable_for_its_ttl(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    store = await make_store(endpoints=(server.endpoint,), timeout_s=1.0)
    lease = await store.grant_lease(1)
    server.stop()
    await wait_set(lease.lost)
    assert "no successful refresh" in lease.lost_reason
    await lease.close()


async def test_closing_the_store_stops_keep_alives_and_lets_keys_expire(
    make_store: StoreFactory, store: EtcdStore
) -> None:
    owner = await make_store(namespace=store.settings.namespace)
    lease = await owner.grant_lease(1)
    start = await owner.put("/hosts/h1/alive", "yes", lease)
    await owner.close()
    keep_alive = f"etcd lease {lease.id:x} keep-alive"
    assert not [t for t in asyncio.all_tasks() if t.get_name() == keep_alive and not t.done()]
    assert not lease.lost.is_set(), "stopped by its owner, not lost"
    async with watching(store.watch("/hosts/", start + 1)) as events:
        gone = await next_event(events)
    assert (gone.type, gone.key) == ("delete", "/hosts/h1/alive")


# -- watch -------------------------------------------------------------------------


async def test_watch_yields_every_change_in_revision_order(store: EtcdStore) -> None:
    start = await store.put("/w/a", "1")
    await store.put("/w/b", "1")
    await store.put("/w/a", "2")
    await store.put("/outside", "x")
    await store.delete("/w/b")
    await store.txn_put_many([("/w/c", "1", None), ("/w/d", "1", None)])
    async with watching(store.watch("/w/", start)) as events:
        seen = await take(events, 6)
    assert summary(seen) == [
        ("put", "/w/a", "1"),
        ("put", "/w/b", "1"),
        ("put", "/w/a", "2"),
        ("delete", "/w/b", ""),
        ("put", "/w/c", "1"),
        ("put", "/w/d", "1"),
    ]
    revisions = [e.revision for e in seen]
    assert revisions == sorted(revisions) and revisions[0] == start
    assert revisions[4] == revisions[5], "one transaction, one revision"
    assert seen[2].prev_value == "1" and seen[3].prev_value == "1"


async def test_watch_resumes_after_etcd_restarts(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    store = await make_store(endpoints=(server.endpoint,))
    start = await store.put("/w/1", "before")
    await store.put("/w/2", "before")
    async with watching(store.watch("/w/", start)) as events:
        seen = [await next_event(events)]
        await asyncio.to_thread(server.restart)
        await store.put("/w/3", "after")
        await store.put("/w/4", "after")
        seen += await take(events, 3)
    assert [e.key for e in seen] == ["/w/1", "/w/2", "/w/3", "/w/4"]
    assert [e.revision for e in seen] == list(range(start, start + 4))


async def test_a_hung_etcd_is_detected_by_keepalive_and_the_watch_resumes(
    private_etcd: EtcdFactory, make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_etcd(extra_args=("--grpc-keepalive-min-time=500ms",))
    store = await make_store(endpoints=(server.endpoint,), keepalive_s=0.5, timeout_s=1.0)
    start = await store.put("/w/1", "before")
    caplog.set_level(logging.INFO, logger="numaplane.controller.store.etcd_watch")
    ping_timeout = LogWaiter("ping timeout")
    logging.getLogger("numaplane.controller.store.etcd_watch").addHandler(ping_timeout)
    try:
        async with watching(store.watch("/w/", start)) as events:
            seen = [await next_event(events)]
            server.freeze()
            async with asyncio.TaskGroup() as group:
                # The watch notices only while someone waits on it: wait in a task.
                following = group.create_task(next_event(events), name="next watch event")
                try:
                    await wait_set(ping_timeout.seen)
                finally:
                    server.thaw()
                await store.put("/w/2", "after")
            seen.append(following.result())
    finally:
        logging.getLogger("numaplane.controller.store.etcd_watch").removeHandler(ping_timeout)
    assert [(e.key, e.revision) for e in seen] == [("/w/1", start), ("/w/2", start + 1)]


async def test_watch_from_a_compacted_revision_raises(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    store = await make_store(endpoints=(server.endpoint,))
    old = await store.put("/w/a", "1")
    latest = await store.put("/w/a", "2")
    await store.compact(latest)
    with pytest.raises(CompactedError) as caught:
        async with watching(store.watch("/w/", old)) as events:
            await next_event(events)
    assert caught.value.compact_revision == latest


async def test_watch_with_relist_relists_after_compaction(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    store = await make_store(endpoints=(server.endpoint,))
    old = await store.put("/w/a", "1")
    await store.put("/w/b", "1")
    latest = await store.put("/w/a", "2")
    await store.compact(latest)
    async with watching(store.watch_with_relist("/w/", old)) as events:
        relisted = await take(events, 2)
        await store.put("/w/c", "new")
        after = await next_event(events)
    assert summary(relisted) == [("put", "/w/a", "2"), ("put", "/w/b", "1")]
    assert (after.type, after.key, after.value) == ("put", "/w/c", "new")
    assert after.revision == latest + 1


async def test_watch_with_relist_without_a_revision_lists_first(store: EtcdStore) -> None:
    await store.put("/w/a", "1")
    async with watching(store.watch_with_relist("/w/")) as events:
        listed = await next_event(events)
        await store.delete("/w/a")
        deleted = await next_event(events)
    assert (listed.type, listed.key) == ("put", "/w/a")
    assert (deleted.type, deleted.key) == ("delete", "/w/a")


def _server_watchers(server: EmbeddedEtcd) -> float:
    with urllib.request.urlopen(f"{server.client_url}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    found = re.search(r"^etcd_debugging_mvcc_watcher_total (\S+)$", text, re.MULTILINE)
    assert found, "etcd exports its watcher count"
    return float(found.group(1))


async def _until_watchers(server: EmbeddedEtcd, count: float) -> None:
    """Poll etcd's metric: the server side has no event to wait on."""
    async with asyncio.timeout(_GUARD_S):
        while True:
            if await asyncio.to_thread(_server_watchers, server) == count:
                return
            await asyncio.sleep(0.05)


async def test_cancelling_the_consumer_ends_the_watch_on_the_server(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    store = await make_store(endpoints=(server.endpoint,))
    start = await store.put("/w/a", "1")
    before = await asyncio.to_thread(_server_watchers, server)
    first_event = asyncio.Event()

    async def consume() -> None:
        async for _ in store.watch("/w/", start):
            first_event.set()

    consumer = asyncio.create_task(consume(), name="watch consumer")
    await wait_set(first_event)
    await _until_watchers(server, before + 1)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await _until_watchers(server, before)


async def test_closing_the_store_ends_its_watches(make_store: StoreFactory) -> None:
    store = await make_store()
    start = await store.put("/w/a", "1")
    async with watching(store.watch("/w/", start)) as events:
        await next_event(events)
        await store.close()
        with pytest.raises(StoreError, match="closed"):
            await next_event(events)


def test_watch_rejects_a_start_revision_below_one(store: EtcdStore) -> None:
    with pytest.raises(ValueError, match="start_revision"):
        store.watch("/w/", 0)


# -- endpoints ---------------------------------------------------------------------


async def test_a_dead_first_endpoint_is_skipped(
    make_store: StoreFactory, etcd: EmbeddedEtcd
) -> None:
    dead = f"127.0.0.1:{free_port()}"
    store = await make_store(endpoints=(dead, etcd.endpoint))
    assert store.endpoint == etcd.endpoint
    revision = await store.put("/k", "v")
    kv = await store.get("/k")
    assert kv is not None and kv.mod_revision == revision


async def test_no_answering_endpoint_names_every_endpoint(make_store: StoreFactory) -> None:
    dead = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    with pytest.raises(StoreUnavailableError) as caught:
        await make_store(endpoints=tuple(dead), timeout_s=0.5)
    for endpoint in dead:
        assert endpoint in str(caught.value)


async def test_requests_fail_over_when_the_current_endpoint_dies(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    first, second = private_etcd(), private_etcd()
    store = await make_store(endpoints=(first.endpoint, second.endpoint), namespace="")
    assert store.endpoint == first.endpoint
    first.stop()
    await store.put("/k", "v")
    assert store.endpoint == second.endpoint


# -- TLS and authentication ----------------------------------------------------------


async def test_tls_store_with_the_ca_connects_and_watches(
    private_etcd: EtcdFactory, make_store: StoreFactory, tmp_path: Path
) -> None:
    pki = make_test_pki(tmp_path)
    server = private_etcd(tls=pki)
    store = await make_store(endpoints=(server.endpoint,), ca_file=pki.ca_file)
    revision = await store.put("/k", "over tls")
    async with watching(store.watch("/", revision)) as events:
        event = await next_event(events)
    assert (event.key, event.value) == ("/k", "over tls")


async def test_plaintext_store_against_tls_etcd_fails_clearly(
    private_etcd: EtcdFactory, make_store: StoreFactory, tmp_path: Path
) -> None:
    server = private_etcd(tls=make_test_pki(tmp_path))
    with pytest.raises(StoreUnavailableError, match=r"TLS.*ca_file") as caught:
        await make_store(endpoints=(server.endpoint,), timeout_s=2.0)
    assert server.endpoint in str(caught.value)


async def test_tls_with_an_unknown_ca_fails_clearly(
    private_etcd: EtcdFactory, make_store: StoreFactory, tmp_path: Path
) -> None:
    server = private_etcd(tls=make_test_pki(tmp_path / "server"))
    stranger = make_test_pki(tmp_path / "stranger")
    with pytest.raises(StoreUnavailableError, match=r"(?i)certificate|handshake"):
        await make_store(endpoints=(server.endpoint,), ca_file=stranger.ca_file, timeout_s=2.0)


async def test_client_certificates_for_client_cert_auth(
    private_etcd: EtcdFactory, make_store: StoreFactory, tmp_path: Path
) -> None:
    pki = make_test_pki(tmp_path)
    server = private_etcd(tls=pki, client_cert_auth=True)
    store = await make_store(
        endpoints=(server.endpoint,),
        ca_file=pki.ca_file,
        cert_file=pki.client_cert_file,
        key_file=pki.client_key_file,
    )
    assert await store.put("/k", "mutual tls") > 0
    with pytest.raises(StoreUnavailableError):
        await make_store(endpoints=(server.endpoint,), ca_file=pki.ca_file, timeout_s=2.0)


async def _enable_auth(server: EmbeddedEtcd, password: str) -> None:
    """root/password with the root role, then auth on (as `etcdctl auth enable`)."""
    async with grpc.aio.insecure_channel(server.endpoint) as channel:
        auth = rpc.AuthStub(channel)
        await auth.UserAdd(rpc.AuthUserAddRequest(name="root", password=password))
        await auth.RoleAdd(rpc.AuthRoleAddRequest(name="root"))
        await auth.UserGrantRole(rpc.AuthUserGrantRoleRequest(user="root", role="root"))
        await auth.AuthEnable(rpc.AuthEnableRequest())


async def test_expired_auth_token_is_renewed_transparently(
    private_etcd: EtcdFactory, make_store: StoreFactory, caplog: pytest.LogCaptureFixture
) -> None:
    server = private_etcd(extra_args=("--auth-token-ttl=1",))
    await _enable_auth(server, "secret")
    store = await make_store(endpoints=(server.endpoint,), username="root", password="secret")
    revision = await store.put("/k", "v")
    caplog.set_level(logging.INFO, logger="numaplane.controller.store.etcd_connection")
    await asyncio.sleep(2.5)  # let etcd forget the token (TTL 1 s, swept every second)
    kv = await store.get("/k")
    assert kv is not None and kv.mod_revision == revision
    assert "unauthenticated" in caplog.text, "the token did expire and was renewed"


async def test_wrong_password_is_a_clear_error_not_unavailability(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd()
    await _enable_auth(server, "secret")
    with pytest.raises(StoreError, match="authentication failed") as caught:
        await make_store(endpoints=(server.endpoint,), username="root", password="wrong")
    assert not isinstance(caught.value, StoreUnavailableError)


async def test_watch_started_after_the_token_expired_reauthenticates(
    private_etcd: EtcdFactory, make_store: StoreFactory
) -> None:
    server = private_etcd(extra_args=("--auth-token-ttl=1",))
    await _enable_auth(server, "secret")
    store = await make_store(endpoints=(server.endpoint,), username="root", password="secret")
    revision = await store.put("/w/a", "v")
    await asyncio.sleep(2.5)  # let etcd forget the token
    async with watching(store.watch("/w/", revision)) as events:
        event = await next_event(events)
    assert (event.key, event.value) == ("/w/a", "v")
