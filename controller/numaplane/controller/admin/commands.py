"""Operator command requests: what the admin API writes, and how it reports progress.

An admin servicer never sends a command. It records a `CommandRequest` under
`requests/<id>`; the leader turns the request into a journaled command, setting the
request's `command_id` and the entry's `request_id` in the same transaction.
Progress is then read back from the journal entry, so the CLI sees the same states
as the agent link:

    requested --(leader journals it)--> pending --> sent --> applied | failed
"""

from __future__ import annotations

import time
import uuid

from numaplane.controller.admin.records import HostRecords
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.store.contract import ClusterStore
from numaplane.v1.admin_pb2 import CommandRecord
from numaplane.v1.state_pb2 import CommandRequest, JournalEntry

COMMAND_KINDS = ("ping", "report-now")
"""The kinds an operator may request directly; moves and starts come from the loops."""

MAX_PAYLOAD_BYTES = 1024
"""A ping payload is an echo token, not a transport: keep requests small."""

REQUESTED = "requested"


class InvalidRequestError(ValueError):
    """A request the API refuses; the message says what is wrong, for the operator."""


def validate_request(host: str, kind: str, payload: str) -> None:
    if not keyspace.valid_name(host):
        raise InvalidRequestError(f"invalid host name {host!r}")
    if kind not in COMMAND_KINDS:
        raise InvalidRequestError(
            f"unknown command kind {kind!r} (expected one of: {', '.join(COMMAND_KINDS)})"
        )
    if len(payload.encode()) > MAX_PAYLOAD_BYTES:
        raise InvalidRequestError(f"payload exceeds {MAX_PAYLOAD_BYTES} bytes")


def new_request(host: str, kind: str, payload: str) -> CommandRequest:
    return CommandRequest(
        id=uuid.uuid4().hex, host=host, kind=kind, payload=payload, requested_at=time.time()
    )


def host_known(records: HostRecords | None) -> bool:
    """A host can be commanded once it has said Hello, even while it is down:
    the journal delivers the command after the agent reconnects."""
    return records is not None and records.info is not None


async def find_entry(store: ClusterStore, request: CommandRequest) -> JournalEntry | None:
    """The journal entry made from `request`, once the leader has journaled it.

    The leader writes the entry and sets the request's `command_id` in one
    transaction, so an empty `command_id` means "not journaled yet". An entry that is
    gone again (pruned after its retention) reads as None too.
    """
    if not request.command_id:
        return None
    kv = await store.get(keyspace.command(request.host, request.command_id))
    return _decode_entry(kv.value, kv.key) if kv is not None else None


def command_record(request: CommandRequest, entry: JournalEntry | None) -> CommandRecord:
    record = CommandRecord(
        request_id=request.id, host=request.host, kind=request.kind, state=REQUESTED
    )
    if entry is not None:
        record.command_id = entry.id
        record.state = entry.state or REQUESTED
        record.epoch = entry.command.epoch
        record.message = entry.message
        record.progress = entry.progress
        record.progress_message = entry.progress_message
    return record


def _decode_entry(value: str, key: str) -> JournalEntry | None:
    try:
        return decode(JournalEntry, value, key=key)
    except RecordError:
        return None
