"""The command journal: every command is in etcd before it is sent.

    pending --(forwarded on the host's stream)--> sent --(result)--> applied | failed

Command ids sort by creation time, so a host's commands replay in the order they were
decided. State changes are compare-and-swap on the entry's mod_revision: a result that
arrives while a forwarder marks the entry sent cannot be lost, and a finished entry is
never reopened. A `sent` entry without a result is sent again after the agent
reconnects; the agent answers a repeated id without acting twice.
"""

from __future__ import annotations

import logging
import time
import uuid

from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode, encode
from numaplane.controller.store import KV, ClusterStore
from numaplane.v1 import link_pb2, state_pb2

log = logging.getLogger(__name__)

OPEN_STATES = frozenset({"pending", "sent"})
FINISHED_STATES = frozenset({"applied", "failed"})


def new_command_id() -> str:
    """Time-ordered and unique: nanoseconds since the epoch, then randomness."""
    return f"{time.time_ns():020d}-{uuid.uuid4().hex[:8]}"


def new_entry(host: str, command: link_pb2.Command, request_id: str = "") -> state_pb2.JournalEntry:
    return state_pb2.JournalEntry(
        id=command.id, host=host, state="pending", command=command,
        created_at=time.time(), request_id=request_id,
    )


def entry_from_kv(kv: KV) -> state_pb2.JournalEntry | None:
    return parse_entry(kv.key, kv.value)


def parse_entry(key: str, value: str) -> state_pb2.JournalEntry | None:
    """The entry stored under `key`, or None (logged) when the value does not decode."""
    try:
        return decode(state_pb2.JournalEntry, value, key=key)
    except RecordError as e:
        log.warning("%s", e)
        return None


async def mark_sent(store: ClusterStore, host: str, command_id: str) -> bool:
    """pending|sent -> sent (counting sends); False if the entry finished meanwhile."""
    key = keyspace.command(host, command_id)
    for _ in range(5):
        kv = await store.get(key)
        if kv is None:
            return False
        entry = entry_from_kv(kv)
        if entry is None or entry.state not in OPEN_STATES:
            return False
        entry.state = "sent"
        entry.sent_at = time.time()
        entry.send_count += 1
        if await store.compare_and_swap(key, encode(entry), kv.mod_revision) is not None:
            return True
    return False


async def record_result(
    store: ClusterStore, host: str, result: link_pb2.CommandResult
) -> state_pb2.JournalEntry | None:
    """Store the agent's result once; a second result for a finished entry changes nothing."""
    key = keyspace.command(host, result.id)
    for _ in range(5):
        kv = await store.get(key)
        if kv is None:
            log.warning("result for unknown command %s on %s", result.id, host)
            return None
        entry = entry_from_kv(kv)
        if entry is None:
            return None
        if entry.state in FINISHED_STATES:
            return entry
        entry.state = "applied" if result.ok else "failed"
        entry.message = result.message
        entry.finished_at = result.finished_at or time.time()
        entry.duplicate = result.duplicate
        if await store.compare_and_swap(key, encode(entry), kv.mod_revision) is not None:
            return entry
    return None
