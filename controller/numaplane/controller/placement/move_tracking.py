"""After a move is journaled: its claim on the target released, the placement following it.

Pure (no I/O): the placement loop (`numaplane.controller.placement.loop`) asks these functions what
every move in a snapshot needs and applies the transactions they build, one guarded
transaction each, the same way it settles starts.

**The target's claim.** A live migration journaled by the rebalance loop (periodic or an
operator's `numaplane vm migrate --host`) writes, in the same transaction as its journal
entry and move record, a claim `claims/<target>/<vm>` with `move` set — the VM's memory
on the target nodes — and rewrites the target's ledger
(`numaplane.controller.rebalance.journaling`). Every decision counts it (`HostView.claimed_by_node`)
while the copy runs. It is released by the rules placement uses for a start's claim
(`numaplane.controller.placement.lifecycle`), with its timeout (`PlacementTimings.start_timeout_s`),
so that a move and a start hold room the same way:

* the VM is observed running on the target and the target's own status is at least as
  new as that observation (its free memory counts the VM: releasing earlier would let
  the same memory be promised twice);
* the command failed (or is gone from the journal): the VM stayed where it was;
* the command is still `pending` (never sent) one timeout after the claim was made: it
  is cancelled in the same transaction (a compare-and-swap on the entry), so the agent
  can never receive a migration whose room is gone;
* the command was applied but the target's status has not shown the VM one timeout
  after the result: something outside numaplane is wrong; holding memory forever would
  not fix it.

A `sent` migration keeps its claim however long it takes (copies run for minutes); the
agent answers it on reconnect, as it does a start.

**The placement record.** `vms/<vm>/placement` names the host and nodes the VM was
placed on; after a move it follows the move, on the command's `applied` result, not on
the VM's status. The applied entry is written once (`journal.record_result` is a
compare-and-swap that never reopens a finished entry) and names exactly which move
finished, its target nodes and who asked for it, through the move record
(`moves/<vm>`) that carries its command id; the rewrite is a compare-and-swap on the
placement that stores that command id (`moved_by`), so a second pass, or a second
leader reading the same snapshot, finds it done or loses the guard: it cannot happen
twice, and since both records stay in etcd until the next pass reads them it cannot be
lost. A status observation is neither: every report rewrites it, a report from the
source can arrive after the VM left, and which nodes a VM's pages sit on says little
about the nodes it was bound to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from numaplane.controller.placement.lifecycle import PlacementTimings
from numaplane.controller.placement.transactions import Txn
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.journal import OPEN_STATES
from numaplane.controller.state.snapshot import ClusterSnapshot, Versioned, VmRecord
from numaplane.controller.state.views import observed_running
from numaplane.v1.state_pb2 import Claim, JournalEntry, VmMove, VmPlacement

FOLLOWED_KINDS = frozenset({"live-migrate", "migrate-memory", "set-vcpu-affinity"})
"""Move kinds the placement record follows. A live migration or memory move changes
where the VM's memory is bound (host, nodes) and its vCPUs with it; an affinity change
re-binds only the vCPUs, so only the record's CPUs follow it (the memory's binding, and
so the record's nodes, stay as they were)."""


@dataclass(frozen=True)
class ReleaseMoveClaim:
    """Delete a move's claim on its target (and cancel its never-sent command)."""

    claim: Versioned[Claim]
    reason: str
    cancel_command: bool = False


def move_claim_step(
    claim: Versioned[Claim], snapshot: ClusterSnapshot, now: float, t: PlacementTimings
) -> ReleaseMoveClaim | None:
    """What a move's claim needs now; None while it must be kept."""
    c = claim.value
    found = snapshot.commands.get(c.command_id) if c.command_id else None
    entry = found.value if found is not None else None
    status = observed_running(snapshot.vms.get(c.vm), c.host)
    host = snapshot.hosts.get(c.host)
    host_seen_at = host.status.observed_at if host is not None and host.status else 0.0
    if status is not None and host_seen_at >= status.observed_at:
        return ReleaseMoveClaim(claim, f"{c.vm} runs on {c.host} and {c.host}'s status counts it")
    if entry is None:
        return ReleaseMoveClaim(claim, "its live-migrate command is gone from the journal")
    if entry.state == "failed":
        return ReleaseMoveClaim(
            claim, f"the live migration failed: {entry.message or 'no reason given'}"
        )
    waited = f"{t.start_timeout_s:g} s"
    if now < c.created_at + t.start_timeout_s:
        return None
    if entry.state == "pending":
        return ReleaseMoveClaim(
            claim, f"{entry.host} did not take the live migration within {waited}",
            cancel_command=True,
        )  # fmt: skip
    if entry.state == "sent" or now < entry.finished_at + t.start_timeout_s:
        return None
    return ReleaseMoveClaim(
        claim, f"migrated, but {c.vm} was not seen on {c.host} within {waited} of the result"
    )


def on_the_clock(claim: Versioned[Claim], snapshot: ClusterSnapshot) -> bool:
    """A kept claim that a timeout may release without any record changing: all but a
    `sent` migration's (that one waits for the agent's result, which is an event)."""
    found = snapshot.commands.get(claim.value.command_id)
    return found is None or found.value.state != "sent"


def release_move_claim_txn(
    step: ReleaseMoveClaim, snapshot: ClusterSnapshot, now: float
) -> Txn:
    """Delete the claim guarded by its revision; cancel a pending command by CAS."""
    c = step.claim.value
    txn = Txn(deletes=[(keyspace.claim(c.host, c.vm), step.claim.mod_revision)])
    found = snapshot.commands.get(c.command_id)
    if step.cancel_command and found is not None:
        entry = JournalEntry()
        entry.CopyFrom(found.value)
        entry.state, entry.message, entry.finished_at = "failed", f"cancelled: {step.reason}", now
        txn.writes.append(
            (keyspace.command(entry.host, entry.id), encode(entry), found.mod_revision)
        )
    return txn


def followed_placement(vm: VmRecord, snapshot: ClusterSnapshot, now: float) -> VmPlacement | None:
    """The VM's placement rewritten to where its last applied move took it; None when it
    already says so, or there is nothing to follow.

    Only a VM with a spec and a `running` placement follows: a VM numaplane only
    observes has no placement record, and a starting, failed or stopping placement has
    its own rules. A move journaled before the placement was decided (a VM deleted and
    created again under the same name) is not this placement's.
    """
    move = snapshot.moves.get(vm.name)
    if move is None or vm.spec is None or vm.spec.value.deleted or vm.placement is None:
        return None
    p, m = vm.placement.value, move.value
    if p.state != "running" or m.kind not in FOLLOWED_KINDS or not m.command_id:
        return None
    if p.moved_by == m.command_id or m.at < p.decided_at:
        return None
    entry = snapshot.commands.get(m.command_id)
    if entry is None or entry.value.state != "applied":
        return None
    q = VmPlacement()
    q.CopyFrom(p)  # keeps the decision's policy, reasons and candidates: its history
    q.host = m.to_host or m.host
    if m.kind != "set-vcpu-affinity":
        del q.nodes[:]
        q.nodes.extend(m.to_nodes)
        del q.memory_by_node[:]  # the start's claim split; where memory is now is observed
    del q.cpus[:]
    q.cpus.extend(_cpus_of(snapshot, q.host, m.to_nodes))
    q.moved_by = m.command_id
    q.reason = _moved_reason(m)
    q.updated_at = now
    return q


def follow_txn(vm: VmRecord, placement: VmPlacement) -> Txn:
    assert vm.placement is not None
    return Txn(
        writes=[(keyspace.vm_placement(vm.name), encode(placement), vm.placement.mod_revision)]
    )


def move_open(vm: VmRecord, snapshot: ClusterSnapshot) -> bool:
    """A move of the VM awaits its result (the placement loop then wakes on results)."""
    move = snapshot.moves.get(vm.name)
    if move is None or not move.value.command_id:
        return False
    entry = snapshot.commands.get(move.value.command_id)
    return entry is not None and entry.value.state in OPEN_STATES


def _cpus_of(snapshot: ClusterSnapshot, host: str, nodes: Iterable[int]) -> list[int]:
    """The CPUs of `nodes` on `host` (moves re-bind the vCPUs to them); [] when unknown."""
    record = snapshot.hosts.get(host)
    if record is None or record.info is None:
        return []
    wanted = set(nodes)
    return sorted(c for n in record.info.topology.nodes if n.id in wanted for c in n.cpus)


def _moved_reason(m: VmMove) -> str:
    if m.manual:
        return f"moved by the operator: {m.reason.removeprefix('operator: ')}"
    return f"moved by the rebalancer: {m.reason}"
