"""A VM's placement life, as a pure function: (what etcd holds, now) -> the next step.

    (spec)  --decide-->  pending  (fits nowhere: the policy's reasons; decided again on
                            |       every change)
                            v
                         starting  (claim + placement + StartVm journaled in ONE txn)
                          |     \\
       agent reports it   |      \\  start failed / timed out (claim released)
       with its memory    v       v
                         running   failed  (retried, with backoff, when the cause was
                                            room or a start that never reached the host)
    (spec deleted) --> stopping (StopVm journaled) --> records removed

The rules that keep claims honest (`numaplane.controller.state.views` explains the accounting):

* A claim is released only once the host's own status reflects the VM: the VM's status
  shows it running on the placement's host with at least the claimed memory, and the
  host status is at least as new as that (`resident_at`), so the host's free memory
  already counts what the claim held.
* A start that times out is cancelled only while its command is still `pending`
  (never sent): the cancellation is a compare-and-swap on the journal entry, so the
  agent can never receive a start whose claim is gone. A `sent` start keeps its claim
  until the agent answers (it does on reconnect; results are idempotent).
* A start the agent applied but whose memory never showed up within the timeout
  releases the claim: the VM (if seen at all) is `running` with what it has, else the
  placement fails without retry (something outside numaplane is wrong).

`next_step` never does I/O; `numaplane.controller.placement.transactions` turns steps into guarded
etcd transactions and `numaplane.controller.placement.loop` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import format_size
from numaplane.controller.state.snapshot import ClusterSnapshot, VmRecord
from numaplane.controller.state.views import claimed_total, memory_by_node, observed_running
from numaplane.v1.state_pb2 import JournalEntry, VmPlacement

RETRY_MARK = "will retry: "
"""Leads the reason of a failed placement that the loop will decide again."""


@dataclass(frozen=True)
class PlacementTimings:
    start_timeout_s: float = 60.0
    """A start not sent, or sent and applied but whose memory is not seen, within this
    long after the decision times out (its claim is released)."""
    retry_s: float = 5.0
    """A retryable failure (no room on the host, a start that never reached it) is
    decided again this long after it failed, doubling with each further failure; a
    failed stop is re-sent after it too."""
    retry_max_s: float = 60.0
    """The longest wait between two retries of one VM."""

    def retry_delay(self, attempts: int) -> float:
        """Wait after the `attempts`-th failed start (1, 2, ...): retry_s doubling, capped."""
        return min(self.retry_max_s, self.retry_s * float(2 ** max(0, min(attempts, 32) - 1)))


@dataclass(frozen=True)
class Decide:
    why: str


@dataclass(frozen=True)
class Release:
    """Delete the claim; the placement becomes `running` or `failed`."""

    state: str
    reason: str
    cancel_command: bool = False
    """Also mark the still-pending start command failed (it must never be sent)."""


@dataclass(frozen=True)
class MarkResident:
    """The VM's memory is seen; wait for the host status to catch up with `at`."""

    at: float


@dataclass(frozen=True)
class Stop:
    host: str


@dataclass(frozen=True)
class Remove:
    why: str


@dataclass(frozen=True)
class Wait:
    why: str


Step = Decide | Release | MarkResident | Stop | Remove | Wait


def next_step(
    vm: VmRecord, snapshot: ClusterSnapshot, now: float, timings: PlacementTimings
) -> Step:
    spec = vm.spec.value if vm.spec is not None else None
    p = vm.placement.value if vm.placement is not None else None
    if spec is None:
        # A live migration's claim is not the placement's (a VM numaplane only observes
        # can be moved): numaplane.controller.placement.move_tracking releases it.
        if p is not None or any(not c.value.move for c in snapshot.claims_of(vm.name)):
            return Remove("its spec is gone")
        return Wait("not managed by numaplane")
    if spec.deleted:
        return _deleting(vm, p, snapshot, now, timings)
    if p is None or p.state == "pending":
        return Decide("new" if p is None else "still pending")
    if p.state == "failed":
        if not p.reason.startswith(RETRY_MARK):
            return Wait("failed; delete it or fix the cause and create it again")
        if now < p.updated_at + timings.retry_delay(p.attempts):
            return Wait("failed; waiting to retry")
        return Decide("retry")
    if p.state == "starting":
        return _starting(vm, p, snapshot, now, timings)
    return Wait(p.state)


def retryable(p: VmPlacement) -> bool:
    return p.state == "failed" and p.reason.startswith(RETRY_MARK)


def _command(snapshot: ClusterSnapshot, command_id: str) -> JournalEntry | None:
    found = snapshot.commands.get(command_id) if command_id else None
    return found.value if found is not None else None


def _starting(
    vm: VmRecord, p: VmPlacement, snapshot: ClusterSnapshot, now: float, t: PlacementTimings
) -> Step:
    entry = _command(snapshot, p.command_id)
    host = p.host
    if entry is not None and entry.state == "failed":
        message = entry.message or "no reason given"
        retry = message.startswith("no room") or message.startswith("refused: epoch")
        return Release("failed", _failed(f"start on {host} failed: {message}", retry))
    status = observed_running(vm, host)
    claim = snapshot.claims.get((host, vm.name))
    needed = claimed_total(claim.value) if claim is not None else 0
    host_record = snapshot.hosts.get(host)
    host_seen_at = (
        host_record.status.observed_at
        if host_record is not None and host_record.status is not None
        else 0.0
    )
    if status is not None and sum(memory_by_node(status).values()) >= needed:
        resident_at = p.resident_at or status.observed_at
        if host_seen_at >= resident_at:
            return Release("running", _running_reason(p, status.observed.memory_bytes))
        if not p.resident_at:
            return MarkResident(status.observed_at)
        return Wait(f"{vm.name} is resident on {host}; waiting for {host}'s status to show it")
    if now < p.decided_at + t.start_timeout_s:
        return Wait(f"starting on {host}")
    waited = f"{t.start_timeout_s:g} s"
    if entry is None or entry.state == "pending":
        return Release(
            "failed",
            _failed(f"{host} did not take the start command within {waited}", True),
            cancel_command=entry is not None,
        )
    if entry.state == "sent":
        return Wait(f"start sent to {host}; waiting for its result (the claim is kept)")
    if status is not None:
        have = sum(memory_by_node(status).values())
        return Release(
            "running",
            f"running on {host}, but only {format_size(have)} of {format_size(needed)} "
            f"was resident after {waited}; claim released",
        )
    return Release(
        "failed", f"started on {host} but not seen running within {waited}; not retried"
    )


def _deleting(
    vm: VmRecord,
    p: VmPlacement | None,
    snapshot: ClusterSnapshot,
    now: float,
    t: PlacementTimings,
) -> Step:
    observed = vm.status.value if vm.status is not None else None
    if p is None or not p.host:
        if observed is not None and (observed.observed.state or "running") == "running":
            return Stop(observed.host)
        return Remove("deleted before it was placed")
    host = observed.host if observed is not None and observed.host else p.host
    if p.state in ("starting", "running"):
        return Stop(host)
    if p.state == "failed":
        return Stop(host) if observed is not None else Remove("deleted after its start failed")
    if p.state == "stopping":
        entry = _command(snapshot, p.command_id)
        if entry is None:
            return Stop(host) if observed is not None else Remove("stopped")
        if entry.state == "applied":
            return Remove(f"stopped on {host}")
        if entry.state == "failed":
            if now < entry.finished_at + t.retry_s:
                return Wait(f"stop on {host} failed ({entry.message}); retrying")
            return Stop(host)
        return Wait(f"stopping on {host}")
    return Remove(f"deleted while {p.state}")


def _failed(text: str, retry: bool) -> str:
    return RETRY_MARK + text if retry else text


def _running_reason(p: VmPlacement, memory: int) -> str:
    nodes = ",".join(map(str, p.nodes)) or "any node"
    return f"running on {p.host} nodes {nodes} ({format_size(memory)}); claim released"
