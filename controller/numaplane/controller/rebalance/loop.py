"""The leader's rebalancing loop: a pass every period, at once on request, and manual moves.

Three coroutines, owned by one `race` (numaplane.common.tasks) while this replica leads:

- **passes**: every `period_s` (read from the policy each pass) — or at once when an
  operator's `rebalance now` arrives — read the inputs (`inputs.read_inputs`), run the
  rebalancer when enabled (a requested pass runs even when disabled), and journal each
  action with its move record — and a live migration with its claim on the target, so
  that nothing else is placed into the memory the copy is headed for
  (`journaling`; `numaplane.controller.placement.move_tracking` releases it). The first pass comes
  one period after taking the lead, so that agents' first reports are in. One `NumaplaneRebalancer`
  is kept while the settings stay the same: its per-host budget buckets carry over between
  passes (a new leader starts with full buckets).
- **triggers**: a watch on `rebalance/now`; an unanswered trigger wakes the passes; the
  pass that answers it writes its result back into the trigger (moves journaled, when).
- **manual moves**: a watch on the operator requests; `migrate-memory` and
  `live-migrate` requests (from `numaplane vm migrate`) are checked against a fresh read
  (`numaplane.controller.policy.rebalance.manual`) and journaled, or answered with a failed entry
  giving the reason.

Nothing here sends a command: the journal does, through the host's session.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Callable

from numaplane.common.tasks import race
from numaplane.controller.policy.rebalance import NumaplaneRebalancer, RebalanceSettings
from numaplane.controller.policy.rebalance.manual import (
    ManualMoveRefused,
    manual_host_move,
    manual_memory_move,
)
from numaplane.controller.policy.types import Action
from numaplane.controller.rebalance.commands import command_for, move_record, target_claim
from numaplane.controller.rebalance.inputs import RebalanceInputs, read_inputs
from numaplane.controller.rebalance.journaling import TargetClaim, journal_move, refuse_request
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode, encode
from numaplane.controller.state.snapshot import Versioned
from numaplane.controller.store import ClusterStore, StoreError
from numaplane.v1.state_pb2 import CommandRequest, HostLedger, RebalanceTrigger

log = logging.getLogger(__name__)

MANUAL_KINDS = ("migrate-memory", "live-migrate")
"""Operator request kinds this loop journals (the reconciler's own loop leaves them)."""

MANUAL_ATTEMPTS = 3
"""Fresh reads an operator's move gets when its transaction loses a guard."""


class RebalanceLoop:
    def __init__(
        self,
        store: ClusterStore,
        epoch: Callable[[], int],
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._epoch = epoch
        self._clock = clock
        self._wake = asyncio.Event()
        self._rebalancer: NumaplaneRebalancer | None = None
        self.passes = 0
        """Passes run (what tests wait on)."""

    async def run(self) -> None:
        await race(self._passes(), self._triggers(), self._manual_requests())

    # -- passes --------------------------------------------------------------------------

    async def _passes(self) -> None:
        try:
            period = (await read_inputs(self._store, self._clock())).settings.period_s
        except StoreError:
            period = RebalanceSettings().period_s
        while True:
            # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._wake.wait()
            forced = self._wake.is_set()
            self._wake.clear()
            try:
                inputs = await read_inputs(self._store, self._clock())
                period = inputs.settings.period_s
                await self.run_pass(inputs, forced=forced)
            except StoreError as e:
                log.warning("rebalancing pass failed: %s", e)

    async def run_pass(self, inputs: RebalanceInputs, *, forced: bool) -> list[Action]:
        """One pass over `inputs`; the actions journaled."""
        trigger = inputs.trigger if forced else None
        if not (inputs.settings.enabled or forced):
            return []
        planned = self._rebalancer_for(inputs.settings).plan_actions(inputs.view, inputs.context)
        ledgers = _Ledgers(inputs)
        done = [p.action for p in planned if await self._journal(p.action, inputs, ledgers)]
        self.passes += 1
        if planned or done:
            log.info("rebalancing pass: %d of %d moves journaled", len(done), len(planned))
        if trigger is not None and not trigger.value.done_at:
            answer = RebalanceTrigger()
            answer.CopyFrom(trigger.value)
            answer.done_at = self._clock()
            answer.moves = len(done)
            answer.message = f"{len(done)} moves journaled" + (
                "" if inputs.settings.enabled else " (periodic rebalancing is off)"
            )
            await self._store.compare_and_swap(
                keyspace.REBALANCE_NOW, encode(answer), trigger.mod_revision
            )
        return done

    def _rebalancer_for(self, settings: RebalanceSettings) -> NumaplaneRebalancer:
        if self._rebalancer is None or self._rebalancer.settings != settings:
            self._rebalancer = NumaplaneRebalancer(settings)
        return self._rebalancer

    async def _journal(
        self,
        action: Action,
        inputs: RebalanceInputs,
        ledgers: _Ledgers,
        request: tuple[CommandRequest, int] | None = None,
    ) -> bool:
        """Journal one action with its move record (and a live migration's target claim)."""
        try:
            cmd = command_for(action, self._epoch(), inputs.settings, inputs.view)
        except ValueError as e:
            log.warning("cannot journal a move of %s: %s", action.vm, e)
            return False
        previous = inputs.moves.get(action.vm)
        now = self._clock()
        record = move_record(action, cmd, now, manual=request is not None)
        claim = target_claim(action, cmd, now)
        target = TargetClaim(claim, ledgers.get(claim.host)) if claim is not None else None
        revision = await journal_move(
            self._store, action.host, cmd, record, previous.mod_revision if previous else 0,
            request=request, target=target,
        )  # fmt: skip
        if revision is not None and target is not None:
            ledgers.wrote(target, revision)
        return revision is not None

    # -- triggers ------------------------------------------------------------------------

    async def _triggers(self) -> None:
        async for ev in self._store.watch_with_relist(keyspace.REBALANCE_NOW):
            if ev.type != "put" or ev.key != keyspace.REBALANCE_NOW:
                continue
            try:
                trigger = decode(RebalanceTrigger, ev.value, key=ev.key)
            except RecordError as e:
                log.warning("%s", e)
                continue
            if not trigger.done_at:
                log.info("rebalance requested (%s)", trigger.id)
                self._wake.set()

    # -- manual moves --------------------------------------------------------------------

    async def _manual_requests(self) -> None:
        async for ev in self._store.watch_with_relist(keyspace.REQUESTS):
            if ev.type != "put":
                continue
            try:
                req = decode(CommandRequest, ev.value, key=ev.key)
            except RecordError as e:
                log.warning("%s", e)
                continue
            if req.command_id or req.kind not in MANUAL_KINDS:
                continue
            try:
                await self.manual_move(req, ev.revision)
            except StoreError as e:
                log.warning("manual move %s: %s (retried on the next event)", req.id, e)

    async def manual_move(self, req: CommandRequest, revision: int) -> bool:
        """Journal an operator's move, or refuse it with the reason; True when journaled.

        A live migration whose target claim loses the ledger guard (a start was claimed
        there meanwhile) is checked again from a fresh read, a few times: nothing else
        would wake this request up, as its record did not change."""
        for _ in range(MANUAL_ATTEMPTS):
            inputs = await read_inputs(self._store, self._clock())
            try:
                action = manual_action(req, inputs)
            except ManualMoveRefused as e:
                log.info("manual move %s refused: %s", req.id, e)
                await refuse_request(self._store, req, revision, f"refused: {e}")
                return False
            if await self._journal(action, inputs, _Ledgers(inputs), request=(req, revision)):
                return True
            kv = await self._store.get(keyspace.request(req.id))
            if kv is None:
                return False
            current = decode(CommandRequest, kv.value, key=kv.key)
            if current.command_id:
                return False  # journaled (or refused) by another leader
            req, revision = current, kv.mod_revision
        log.info("manual move %s lost the race for room %d times; refusing it", req.id,
                 MANUAL_ATTEMPTS)
        await refuse_request(
            self._store, req, revision, "refused: the target's room kept being claimed; retry"
        )
        return False


class _Ledgers:
    """Target ledgers through one pass: as the pass read them, then as its own moves
    rewrote them. Two live migrations to one host in one pass were planned together (the
    planner counted the first's arrival before choosing the second), so the second is
    guarded by the revision the first wrote; anything else that claimed there meanwhile
    still makes it fail."""

    def __init__(self, inputs: RebalanceInputs) -> None:
        self._read = inputs.snapshot.hosts
        self._written: dict[str, Versioned[HostLedger]] = {}

    def get(self, host: str) -> Versioned[HostLedger] | None:
        if host in self._written:
            return self._written[host]
        record = self._read.get(host)
        return record.ledger if record is not None else None

    def wrote(self, target: TargetClaim, revision: int) -> None:
        self._written[target.claim.host] = Versioned(target.new_ledger(), revision)


def manual_action(req: CommandRequest, inputs: RebalanceInputs) -> Action:
    """The action an operator's request asks for (payload: {"vm", "nodes"} or {"vm", "host"})."""
    try:
        payload = json.loads(req.payload or "{}")
    except ValueError:
        raise ManualMoveRefused(f"unreadable request payload {req.payload!r}") from None
    vm = str(payload.get("vm", ""))
    if inputs.context.busy and vm in inputs.context.busy:
        raise ManualMoveRefused(f"{vm} has a move, start or stop in flight; try again after it")
    if req.kind == "migrate-memory":
        nodes = tuple(int(n) for n in payload.get("nodes", ()))
        return manual_memory_move(inputs.view, vm, nodes, inputs.settings)
    return manual_host_move(
        inputs.view, vm, str(payload.get("host", "")), inputs.context, inputs.settings
    )
