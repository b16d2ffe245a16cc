"""The etcd transactions of the placement loop, each all-or-nothing and guarded.

The one that matters most is `claim_txn`: claim, placement (`starting`) and the StartVm
journal entry are written together, guarded by

* the host's ledger (`ledgers/<host>`) at the mod_revision the decision read, and
  rewritten: any other claim made on that host since the snapshot — by this leader or
  a stale one racing it — moved the ledger, so this transaction fails and the VM is
  decided again from a fresh snapshot that includes the other claim;
* the VM's placement at the revision read (0 = absent): two deciders cannot both place
  one VM, on different hosts, from the same snapshot;
* the claim and the journal entry must not exist.

A claim released (VM observed, start failed) does not touch the ledger: releasing only
ever makes a concurrent decision more conservative than it needed to be. A live
migration's claim on its target (`numaplane.controller.rebalance.journaling`) rewrites the same
ledger, so a start and a migration decided from one snapshot cannot both take the room.

Every other transaction guards the records it changes by the revisions it read.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from numaplane.controller.policy.types import Candidate, PlacementDecision
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, Versioned, VmRecord
from numaplane.v1 import link_pb2
from numaplane.v1.state_pb2 import (
    CandidateRecord,
    Claim,
    HostLedger,
    JournalEntry,
    VmPlacement,
)
from numaplane.v1.types_pb2 import NodeMemory


@dataclass
class Txn:
    writes: list[tuple[str, str, int | None]] = field(default_factory=list)
    deletes: list[tuple[str, int | None]] = field(default_factory=list)


def candidates(considered: Iterable[Candidate]) -> list[CandidateRecord]:
    return [
        CandidateRecord(
            host=c.host,
            nodes=list(c.nodes),
            score=c.score or 0.0,
            has_score=c.score is not None,
            rejected=c.rejected or "",
        )
        for c in considered
    ]


def decided(decision: PlacementDecision, now: float, epoch: int) -> VmPlacement:
    """A placement record carrying the decision's reasons and candidates (any state)."""
    return VmPlacement(
        name=decision.vm,
        policy=decision.policy,
        reasons=list(decision.reasons),
        considered=candidates(decision.considered),
        decided_at=now,
        updated_at=now,
        epoch=epoch,
    )


def pending_txn(vm: VmRecord, record: VmPlacement) -> Txn:
    """Record why the VM fits nowhere (state pending)."""
    return Txn(writes=[(keyspace.vm_placement(vm.name), encode(record), _rev(vm))])


def claim_txn(
    vm: VmRecord,
    snapshot: ClusterSnapshot,
    record: VmPlacement,
    claim_by_node: dict[int, int],
    start: link_pb2.StartVm,
    epoch: int,
    now: float,
) -> Txn:
    """Claim + placement `starting` + StartVm journaled, guarded as the module says."""
    host = record.host
    command = link_pb2.Command(id=journal.new_command_id(), epoch=epoch)
    command.start_vm.CopyFrom(start)
    entry = journal.new_entry(host, command)
    claim = Claim(
        host=host,
        vm=vm.name,
        memory_by_node=[NodeMemory(node=n, bytes=b) for n, b in sorted(claim_by_node.items())],
        created_at=now,
        epoch=epoch,
        command_id=command.id,
    )
    record.state = "starting"
    record.command_id = command.id
    record.memory_by_node.extend(claim.memory_by_node)
    host_record = snapshot.hosts.get(host)
    ledger = next_ledger(
        host, host_record.ledger if host_record is not None else None, vm.name, epoch, now
    )
    return Txn(
        writes=[
            ledger_write(host, ledger, host_record.ledger if host_record is not None else None),
            (keyspace.claim(host, vm.name), encode(claim), 0),
            (keyspace.vm_placement(vm.name), encode(record), _rev(vm)),
            (keyspace.command(host, command.id), encode(entry), 0),
        ]
    )


def next_ledger(
    host: str, previous: Versioned[HostLedger] | None, vm: str, epoch: int, now: float
) -> HostLedger:
    """The ledger a claim on `host` writes: one more claim made, by `vm`."""
    made = previous.value.claims_made if previous is not None else 0
    return HostLedger(host=host, last_vm=vm, epoch=epoch, updated_at=now, claims_made=made + 1)


def ledger_write(
    host: str, ledger: HostLedger, previous: Versioned[HostLedger] | None
) -> tuple[str, str, int]:
    """The ledger put, guarded by the revision read (0: it must not exist yet). Every
    transaction that claims on a host carries it (starts here, live migrations'
    targets in `numaplane.controller.rebalance.journaling`), so two of them decided from one
    snapshot cannot both commit."""
    return (keyspace.ledger(host), encode(ledger), previous.mod_revision if previous else 0)


def release_txn(
    vm: VmRecord,
    snapshot: ClusterSnapshot,
    state: str,
    reason: str,
    *,
    cancel_command: bool = False,
    now: float | None = None,
) -> Txn:
    """Drop the VM's claims; the placement becomes `state` with `reason`."""
    assert vm.placement is not None
    now = time.time() if now is None else now
    p = VmPlacement()
    p.CopyFrom(vm.placement.value)
    p.state, p.reason, p.updated_at = state, reason, now
    txn = Txn(writes=[(keyspace.vm_placement(vm.name), encode(p), vm.placement.mod_revision)])
    for claim in start_claims(snapshot, vm.name):
        txn.deletes.append((keyspace.claim(claim.value.host, vm.name), claim.mod_revision))
    found = snapshot.commands.get(p.command_id)
    if cancel_command and found is not None:
        entry = JournalEntry()
        entry.CopyFrom(found.value)
        entry.state, entry.message, entry.finished_at = "failed", f"cancelled: {reason}", now
        txn.writes.append((keyspace.command(entry.host, entry.id), encode(entry),
                           found.mod_revision))
    return txn


def start_claims(snapshot: ClusterSnapshot, vm: str) -> list[Versioned[Claim]]:
    """The VM's claims made by its starts, not by a live migration of it (those follow
    the move's rules: numaplane.controller.placement.move_tracking)."""
    return [c for c in snapshot.claims_of(vm) if not c.value.move]


def resident_txn(vm: VmRecord, at: float) -> Txn:
    assert vm.placement is not None
    p = VmPlacement()
    p.CopyFrom(vm.placement.value)
    p.resident_at = at
    return Txn(writes=[(keyspace.vm_placement(vm.name), encode(p), vm.placement.mod_revision)])


def stop_txn(vm: VmRecord, host: str, epoch: int, now: float) -> Txn:
    """StopVm journaled; the placement becomes `stopping` (claims stay until removal)."""
    command = link_pb2.Command(id=journal.new_command_id(), epoch=epoch)
    command.stop_vm.name = vm.name
    entry = journal.new_entry(host, command)
    p = VmPlacement(name=vm.name)
    if vm.placement is not None:
        p.CopyFrom(vm.placement.value)
    p.state, p.host, p.command_id = "stopping", host, command.id
    p.reason, p.updated_at, p.epoch = f"stopping on {host}", now, epoch
    return Txn(
        writes=[
            (keyspace.command(host, command.id), encode(entry), 0),
            (keyspace.vm_placement(vm.name), encode(p), _rev(vm)),
        ]
    )


def remove_txn(vm: VmRecord, snapshot: ClusterSnapshot) -> Txn:
    """Delete spec, placement, claims and the last move record (each guarded by the
    revision read): a VM created again under the same name starts with no cool-down."""
    txn = Txn()
    if vm.spec is not None:
        txn.deletes.append((keyspace.vm_spec(vm.name), vm.spec.mod_revision))
    if vm.placement is not None:
        txn.deletes.append((keyspace.vm_placement(vm.name), vm.placement.mod_revision))
    for claim in snapshot.claims_of(vm.name):
        txn.deletes.append((keyspace.claim(claim.value.host, vm.name), claim.mod_revision))
    move = snapshot.moves.get(vm.name)
    if move is not None:
        txn.deletes.append((keyspace.vm_move(vm.name), move.mod_revision))
    return txn


def _rev(vm: VmRecord) -> int:
    return vm.placement.mod_revision if vm.placement is not None else 0
