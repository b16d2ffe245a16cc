"""Store changes -> cluster events, without a store: real KVs and WatchEvents in."""

from __future__ import annotations

from numaplane.controller.admin.events import EventTranslator
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import KV, WatchEvent
from numaplane.v1.state_pb2 import HostAlive, JournalEntry, VmStatus
from numaplane.v1.types_pb2 import VmObservation


def put(key: str, value: str, revision: int = 1) -> WatchEvent:
    return WatchEvent("put", key, value, revision)


def vm(name: str, host: str, locality: float = 1.0) -> str:
    return encode(
        VmStatus(name=name, host=host, observed=VmObservation(name=name, locality=locality))
    )


def kinds(translator: EventTranslator, *changes: WatchEvent) -> list[str]:
    return [e.kind for c in changes for e in translator.translate(c)]


def test_a_relist_replaying_known_values_says_nothing() -> None:
    t = EventTranslator(clock=lambda: 1.0)
    alive = encode(HostAlive(controller_id="c1", since=5.0))
    kvs = [
        KV(keyspace.host_alive("h1"), alive, 1, 1),
        KV(keyspace.vm_status("v1"), vm("v1", "h1"), 2, 2),
    ]
    assert [e.kind for e in t.prime(kvs)] == ["host-up", "vm-appeared"]
    # After a compaction, watch_with_relist yields every current key again as a put.
    assert kinds(t, *(put(kv.key, kv.value, 9) for kv in kvs)) == []


def test_host_up_down_and_a_new_lease_while_up() -> None:
    t = EventTranslator()
    key = keyspace.host_alive("h1")
    first = encode(HostAlive(controller_id="c1"))
    second = encode(HostAlive(controller_id="c2"))  # reconnected to another replica
    assert kinds(t, put(key, first), put(key, second)) == ["host-up"]
    assert kinds(t, WatchEvent("delete", key, "", 3)) == ["host-down"]
    # An unreadable alive value still means the host is up.
    assert kinds(t, put(key, "{garbage")) == ["host-up"]


def test_vm_moves_and_goes() -> None:
    t = EventTranslator()
    key = keyspace.vm_status("v1")
    assert kinds(t, put(key, vm("v1", "h1"))) == ["vm-appeared"]
    (moved,) = t.translate(put(key, vm("v1", "h2", 0.5)))
    assert moved.kind == "vm-updated"
    assert "moved from host h1 to h2" in moved.message
    (gone,) = t.translate(WatchEvent("delete", key, "", 4))
    assert (gone.kind, gone.host, gone.vm) == ("vm-gone", "h2", "v1")


def test_journal_reports_state_changes_only() -> None:
    t = EventTranslator()
    key = keyspace.command("h1", "c1")
    entry = JournalEntry(id="c1", host="h1", state="sent", send_count=1)
    assert kinds(t, put(key, encode(entry))) == ["command-sent"]
    entry.send_count = 2  # re-sent after a reconnect: same state, no event
    assert kinds(t, put(key, encode(entry))) == []
    entry.state = "failed"
    assert kinds(t, put(key, encode(entry))) == ["command-failed"]
    assert kinds(t, WatchEvent("delete", key, "", 5)) == []  # pruning is not an event


def test_unrelated_and_unreadable_keys_are_ignored() -> None:
    t = EventTranslator()
    assert kinds(t, put(keyspace.LEADER, "{}"), put(keyspace.request("r1"), "{}")) == []
    assert kinds(t, put(keyspace.vm_status("v1"), "{not json")) == []
    assert kinds(t, put(keyspace.host_status("h1"), "{}")) == []
