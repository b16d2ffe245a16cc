"""The leader's placement loop: specs in, claims and StartVm/StopVm commands out.

Level-triggered. A watch on the keyspace wakes the loop whenever a spec, placement,
claim, VM status, host record, command or the policy config changes, and, while some VM
waits on the clock (a start or stop in flight, a retry due), a timer wakes it every
`tick_s` for timeouts and retries; an idle cluster costs no reads. Each pass reads one snapshot
(`numaplane.controller.state.snapshot`), asks `numaplane.controller.placement.lifecycle.next_step`
what every VM needs, and carries it out as one guarded transaction per VM
(`numaplane.controller.placement.transactions`). Nothing is remembered between passes but the
wake-up flag: a lost event, a failed transaction or a new leader costs one pass, never a
decision.

Order within a pass: first everything that frees or settles room (live migrations'
claims on their targets released and placement records following applied moves —
`numaplane.controller.placement.move_tracking` — then releases, stops, removals), then decisions,
oldest spec first. After each claim the snapshot is read
again, so the next decision counts the claim just made (the ledger guard would refuse
it otherwise). A decision whose transaction loses a race (another replica claimed on
the host, or the placement changed) is retried from a fresh snapshot on the next pass.

Several loops may run against one etcd at once — a leader that has not yet noticed it
lost, and the new one — and the guards settle it: at most one claim per host per
snapshot, at most one placement per VM (tests/integration/placement/test_placement_concurrency.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from numaplane.common.tasks import race
from numaplane.controller.placement.decide import decide, start_command
from numaplane.controller.placement.lifecycle import (
    Decide,
    MarkResident,
    PlacementTimings,
    Release,
    Remove,
    Stop,
    Wait,
    next_step,
    retryable,
)
from numaplane.controller.placement.move_tracking import (
    follow_txn,
    followed_placement,
    move_claim_step,
    move_open,
    on_the_clock,
    release_move_claim_txn,
)
from numaplane.controller.placement.transactions import (
    Txn,
    claim_txn,
    decided,
    pending_txn,
    release_txn,
    remove_txn,
    resident_txn,
    stop_txn,
)
from numaplane.controller.policy.types import ClusterView
from numaplane.controller.state import keyspace
from numaplane.controller.state.snapshot import ClusterSnapshot, VmRecord, read_snapshot
from numaplane.controller.state.views import build_view
from numaplane.controller.store import ClusterStore, StoreError

log = logging.getLogger(__name__)

_WATCHED = ("vms", "claims", "hosts", "commands", "config", "moves")
"""Top-level key groups whose changes can change a placement step."""


@dataclass
class PassResult:
    """What one pass did (for tests and logs)."""

    claimed: list[str] = field(default_factory=list)
    pending: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    stopped: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    waiting: list[str] = field(default_factory=list)
    """VMs that fit nowhere this pass (newly pending or still pending)."""
    moves_released: list[str] = field(default_factory=list)
    """VMs whose live migration's claim on its target was released."""
    followed: list[str] = field(default_factory=list)
    """VMs whose placement record now names where their applied move took them."""
    moves_open: bool = False
    """Some move awaits its result: the loop wakes on results and reports (no timer)."""
    conflicts: int = 0
    timed: bool = False
    """Some VM waits on the clock (a start or stop in flight, a retry due later): the
    loop wakes on its timer as well as on changes. Otherwise only a change wakes it."""


class PlacementLoop:
    def __init__(
        self,
        store: ClusterStore,
        epoch: Callable[[], int],
        timings: PlacementTimings | None = None,
        *,
        tick_s: float = 1.0,
        min_pass_interval_s: float = 0.05,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._epoch = epoch
        self.timings = timings or PlacementTimings()
        self._tick_s = tick_s
        self._min_interval_s = min_pass_interval_s
        """Passes start at most this often: under a stream of status writes (every host
        reports) the loop batches them instead of re-reading etcd back to back."""
        self._clock = clock
        self._wake = asyncio.Event()
        self._in_flight = True
        """Some start or stop awaits observation (until the first pass says otherwise)."""
        self._waiting_for_room = True
        """Some VM is pending for want of room."""
        self._status_only = False

    async def run(self) -> None:
        """Place until cancelled (the reconciler cancels it when leadership ends)."""
        await race(self._watch(), self._work())

    async def _watch(self) -> None:
        async for ev in self._store.watch_with_relist(keyspace.ROOT):
            parts = keyspace.split(ev.key)
            if not parts or parts[0] not in _WATCHED:
                continue
            if _is_status(parts):
                # Every agent's reports land here. They matter only while a VM is in
                # flight (a start waits to be seen running) or waits for room; a
                # settled cluster must not re-read etcd on every report.
                if not (self._in_flight or self._waiting_for_room):
                    continue
                if not self._wake.is_set():
                    self._status_only = True
            else:
                self._status_only = False
            self._wake.set()

    async def _work(self) -> None:
        timed = True
        while True:
            # asyncio.timeout, not wait_for: on 3.11 wait_for can swallow a cancellation
            # that arrives as the event fires, and the loop would outlive its owner.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._tick_s if timed else None):
                    await self._wake.wait()
            if self._status_only and not self._in_flight:
                # Only reports changed, and only a pending VM cares: batch them.
                await asyncio.sleep(self._tick_s)
            self._wake.clear()
            self._status_only = False
            try:
                result = await self.pass_once()
            except StoreError as e:
                log.warning("placement pass failed: %s; retrying", e)
                await asyncio.sleep(self._tick_s)
                self._wake.set()
                continue
            # What this pass started (a claim, a stop, a retryable failure) may wait on
            # the clock too; the next pass recomputes it from the records.
            timed = result.timed or bool(result.claimed or result.released or result.stopped)
            self._in_flight = timed or result.moves_open
            self._waiting_for_room = bool(result.waiting)
            if result.conflicts:
                self._wake.set()  # lost a race: decide again from a fresh snapshot
            await asyncio.sleep(self._min_interval_s)

    async def pass_once(self) -> PassResult:
        """One pass over every VM (public so that tests can drive passes by hand)."""
        result = PassResult()
        snapshot = await read_snapshot(self._store)
        now = self._clock()
        await self._settle_moves(snapshot, now, result)
        decisions: list[str] = []
        for name in sorted(snapshot.vms):
            vm = snapshot.vms[name]
            step = next_step(vm, snapshot, now, self.timings)
            result.timed = result.timed or _on_the_clock(vm)
            if isinstance(step, Decide):
                decisions.append(name)
            elif not isinstance(step, Wait):
                await self._settle(vm, snapshot, step, now, result)
        if not decisions:
            return result
        if result.released or result.removed or result.stopped or result.moves_released:
            snapshot = await read_snapshot(self._store)
        decisions.sort(key=lambda n: _age_key(snapshot.vms.get(n), n))
        view = build_view(snapshot, now=now)
        for name in decisions:
            found = snapshot.vms.get(name)
            if found is None or not isinstance(
                next_step(found, snapshot, now, self.timings), Decide
            ):
                continue
            if await self._decide(found, snapshot, view, now, result):
                snapshot = await read_snapshot(self._store)
                view = build_view(snapshot, now=now)
        return result

    async def _settle_moves(
        self, snapshot: ClusterSnapshot, now: float, result: PassResult
    ) -> None:
        """Moves journaled by the rebalance loop: release their target claims when done,
        and make placement records follow the applied ones
        (numaplane.controller.placement.move_tracking)."""
        for claim in [c for c in snapshot.claims.values() if c.value.move]:
            step = move_claim_step(claim, snapshot, now, self.timings)
            if step is None:
                # Kept: a timeout may come due without any event; a sent migration's
                # result and the VM's reports are events (`moves_open` keeps them waking).
                result.timed = result.timed or on_the_clock(claim, snapshot)
                result.moves_open = True
                continue
            if await self._apply(release_move_claim_txn(step, snapshot, now)):
                result.moves_released.append(claim.value.vm)
                log.info("claim of %s's live migration on %s released: %s", claim.value.vm,
                         claim.value.host, step.reason)
            else:
                result.conflicts += 1
        for name in sorted(snapshot.moves):
            vm = snapshot.vms.get(name)
            if vm is None:
                continue
            result.moves_open = result.moves_open or move_open(vm, snapshot)
            placement = followed_placement(vm, snapshot, now)
            if placement is None:
                continue
            if await self._apply(follow_txn(vm, placement)):
                result.followed.append(name)
                log.info("placement of %s follows its move: %s on %s nodes %s", name,
                         placement.reason, placement.host, list(placement.nodes))
            else:
                result.conflicts += 1

    async def _settle(
        self,
        vm: VmRecord,
        snapshot: ClusterSnapshot,
        step: Release | MarkResident | Stop | Remove,
        now: float,
        result: PassResult,
    ) -> None:
        if isinstance(step, Release):
            txn = release_txn(
                vm, snapshot, step.state, step.reason, cancel_command=step.cancel_command, now=now
            )
            done, bucket = await self._apply(txn), result.released
        elif isinstance(step, MarkResident):
            done, bucket = await self._apply(resident_txn(vm, step.at)), []
        elif isinstance(step, Stop):
            txn = stop_txn(vm, step.host, self._epoch(), now)
            done, bucket = await self._apply(txn), result.stopped
        else:
            done, bucket = await self._apply(remove_txn(vm, snapshot)), result.removed
        if done:
            bucket.append(vm.name)
            log.info("placement of %s: %s", vm.name, _describe(step))
        else:
            result.conflicts += 1

    async def _decide(
        self,
        vm: VmRecord,
        snapshot: ClusterSnapshot,
        view: ClusterView,
        now: float,
        result: PassResult,
    ) -> bool:
        """Decide one VM; True when it claimed (the snapshot is then out of date)."""
        assert vm.spec is not None
        spec = vm.spec.value
        outcome = decide(spec, snapshot, view)
        previous = vm.placement.value if vm.placement is not None else None
        record = decided(outcome.decision, now, self._epoch())
        record.attempts = previous.attempts if previous is not None else 0
        placement = outcome.decision.placement
        if outcome.claim is None or placement is None:
            result.waiting.append(vm.name)
            record.state, record.reason = "pending", outcome.pending_reason
            if previous is not None and previous.state == "pending" and (
                previous.reason,
                list(previous.reasons),
            ) == (record.reason, list(record.reasons)):
                return False  # nothing new to say: no write, no wake-up
            if await self._apply(pending_txn(vm, record)):
                result.pending.append(vm.name)
                log.info("%s stays pending: %s", vm.name, record.reason)
            else:
                result.conflicts += 1
            return False
        host = view.host(placement.host)
        assert host is not None
        record.host = placement.host
        record.nodes.extend(placement.nodes)
        record.cpus.extend(placement.cpus)
        record.attempts += 1
        nodes = ",".join(map(str, placement.nodes))
        record.reason = f"starting on {placement.host} nodes {nodes}"
        start = start_command(spec, placement, host, outcome.boot_bytes)
        txn = claim_txn(vm, snapshot, record, outcome.claim, start, self._epoch(), now)
        if not await self._apply(txn):
            result.conflicts += 1
            log.info("claim for %s on %s lost a race; deciding again", vm.name, placement.host)
            return False
        result.claimed.append(vm.name)
        log.info("placed %s on %s nodes %s (%s)", vm.name, placement.host, nodes,
                 outcome.decision.policy)
        return True

    async def _apply(self, txn: Txn) -> bool:
        return await self._store.txn_put_many(txn.writes, txn.deletes) is not None


def _is_status(parts: tuple[str, ...]) -> bool:
    """hosts/<h>/status, vms/<vm>/status, commands/...: observed state, not intent."""
    return parts[0] == "commands" or (len(parts) >= 3 and parts[2] == "status")


def _on_the_clock(vm: VmRecord) -> bool:
    p = vm.placement.value if vm.placement is not None else None
    return p is not None and (p.state in ("starting", "stopping") or retryable(p))


def _age_key(vm: VmRecord | None, name: str) -> tuple[float, str]:
    created = vm.spec.value.created_at if vm is not None and vm.spec is not None else 0.0
    return (created, name)


def _describe(step: Release | MarkResident | Stop | Remove) -> str:
    if isinstance(step, Release):
        return f"{step.state}: {step.reason}"
    if isinstance(step, MarkResident):
        return "memory resident; waiting for the host status"
    if isinstance(step, Stop):
        return f"stopping on {step.host}"
    return f"removed ({step.why})"
