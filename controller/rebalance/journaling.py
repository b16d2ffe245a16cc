"""Writing a move: its command into the journal and its move record, in one transaction.

The command entry is created (it must not exist) and the VM's move record is written
guarded by the mod_revision the pass read (0: it must not exist yet). A leader that read
the same snapshot as another — the old one that has not noticed it lost, and the new
one — loses this guard for every VM the other moved first, so a VM is never moved twice
from one observation. A manual move also marks its request journaled in the same
transaction (guarded by the request's revision), as the reconciler does for pings.
"""

from __future__ import annotations

import logging

from numaplane.v1 import link_pb2
from numaplane.v1.state_pb2 import CommandRequest, VmMove

from controller import journal, keyspace
from controller.state import encode
from controller.store import ClusterStore

log = logging.getLogger(__name__)


async def journal_move(
    store: ClusterStore,
    host: str,
    cmd: link_pb2.Command,
    record: VmMove,
    move_revision: int,
    request: tuple[CommandRequest, int] | None = None,
) -> bool:
    """True when the command is journaled; False when a guard failed (someone else moved)."""
    entry = journal.new_entry(host, cmd, request_id=request[0].id if request else "")
    writes: list[tuple[str, str, int | None]] = [
        (keyspace.command(host, cmd.id), encode(entry), 0),
        (keyspace.vm_move(record.vm), encode(record), move_revision),
    ]
    if request is not None:
        req, revision = request
        req.command_id = cmd.id
        writes.append((keyspace.request(req.id), encode(req), revision))
    done = await store.txn_put_many(writes) is not None
    if done:
        log.info("journaled %s of %s on %s as %s: %s", record.kind, record.vm, host, cmd.id,
                 record.reason)
    return done


async def refuse_request(
    store: ClusterStore, request: CommandRequest, revision: int, reason: str
) -> bool:
    """Answer a manual move that cannot be made: a `failed` journal entry with the reason
    (never sent), so `numaplane command show` and `--wait` report it like any failure."""
    cmd = link_pb2.Command(id=journal.new_command_id())
    entry = journal.new_entry(request.host, cmd, request_id=request.id)
    entry.state = "failed"
    entry.message = reason
    entry.finished_at = entry.created_at
    request.command_id = cmd.id
    return (
        await store.txn_put_many(
            [
                (keyspace.command(request.host, cmd.id), encode(entry), 0),
                (keyspace.request(request.id), encode(request), revision),
            ]
        )
        is not None
    )
