"""Writing a move: its command into the journal and its move record, in one transaction.

The command entry is created (it must not exist) and the VM's move record is written
guarded by the mod_revision the pass read (0: it must not exist yet). A leader that read
the same snapshot as another — the old one that has not noticed it lost, and the new
one — loses this guard for every VM the other moved first, so a VM is never moved twice
from one observation. A manual move also marks its request journaled in the same
transaction (guarded by the request's revision), as the reconciler does for pings.

A live migration also claims its room on the target in the same transaction, exactly
as a start does (`numaplane.controller.placement.transactions.claim_txn`): the claim
`claims/<target>/<vm>` is created and the target's ledger rewritten, guarded by the ledger revision
the pass read. A placement decision (or another pass) that read the target before this claim
loses its own ledger guard and decides again from a snapshot that counts it; if it
committed first, this move loses and the next pass plans from a snapshot that counts
the start. `numaplane.controller.placement.move_tracking` releases the claim.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from numaplane.controller.placement.transactions import ledger_write, next_ledger
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import Versioned
from numaplane.controller.store import ClusterStore
from numaplane.v1 import link_pb2
from numaplane.v1.state_pb2 import Claim, CommandRequest, HostLedger, VmMove

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TargetClaim:
    """A live migration's claim on its target, and the target's ledger as the pass read it
    (None: no claim was ever made there)."""

    claim: Claim
    ledger: Versioned[HostLedger] | None

    def new_ledger(self) -> HostLedger:
        """The target's ledger as the move's transaction writes it."""
        c = self.claim
        return next_ledger(c.host, self.ledger, c.vm, c.epoch, c.created_at)


async def journal_move(
    store: ClusterStore,
    host: str,
    cmd: link_pb2.Command,
    record: VmMove,
    move_revision: int,
    request: tuple[CommandRequest, int] | None = None,
    *,
    target: TargetClaim | None = None,
) -> int | None:
    """The store revision of the transaction when the command is journaled (with the
    target's claim, if any: the target's ledger now has that mod_revision); None when a
    guard failed (someone else moved the VM, or claimed on the target)."""
    entry = journal.new_entry(host, cmd, request_id=request[0].id if request else "")
    writes: list[tuple[str, str, int | None]] = [
        (keyspace.command(host, cmd.id), encode(entry), 0),
        (keyspace.vm_move(record.vm), encode(record), move_revision),
    ]
    if request is not None:
        req, revision = request
        req.command_id = cmd.id
        writes.append((keyspace.request(req.id), encode(req), revision))
    if target is not None:
        c = target.claim
        writes.append(ledger_write(c.host, target.new_ledger(), target.ledger))
        writes.append((keyspace.claim(c.host, c.vm), encode(c), 0))
    committed = await store.txn_put_many(writes)
    if committed is not None:
        log.info("journaled %s of %s on %s as %s: %s", record.kind, record.vm, host, cmd.id,
                 record.reason)
    return committed


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
