"""The leader's decide/act loops.

Level-triggered: each loop reads desired state from etcd and writes the commands that
realize it into the journal, each write guarded so that two leaders (an old one that
has not noticed yet, and the new one) cannot act twice. The fencing epoch goes into
every command. This module holds the loop that turns operator requests into commands
and the journal pruning; other capabilities (placement, balloons, rebalancing) add
their own loop objects to `Reconciler.loops`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Coroutine
from typing import Any

from numaplane.common.tasks import race
from numaplane.controller.balloon.loop import BalloonLoop
from numaplane.controller.leader import LeaderElection
from numaplane.controller.placement.lifecycle import PlacementTimings
from numaplane.controller.placement.loop import PlacementLoop
from numaplane.controller.rebalance.loop import MANUAL_KINDS, RebalanceLoop
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import RecordError, decode, encode
from numaplane.controller.store import ClusterStore, StoreError
from numaplane.v1 import link_pb2, state_pb2

log = logging.getLogger(__name__)

REQUEST_KINDS = ("ping", "report-now")


def build_command(request: state_pb2.CommandRequest, epoch: int) -> link_pb2.Command:
    cmd = link_pb2.Command(id=journal.new_command_id(), epoch=epoch)
    if request.kind == "ping":
        cmd.ping.payload = request.payload
    elif request.kind == "report-now":
        cmd.report_now.SetInParent()
    else:
        raise ValueError(f"unknown command kind {request.kind!r}")
    return cmd


class Reconciler:
    def __init__(
        self, store: ClusterStore, election: LeaderElection, settings: ControllerSettings
    ) -> None:
        self._store = store
        self._election = election
        self._s = settings
        self.loops: list[Callable[[], Coroutine[Any, Any, None]]] = [
            self._requests,
            self._prune,
        ]
        """Coroutines run (all at once) while this replica leads."""
        self.balloons = BalloonLoop(store, lambda: election.epoch, settings.balloon_period_s)
        self.loops.append(self.balloons.run)
        self.placement = PlacementLoop(
            store,
            lambda: election.epoch,
            PlacementTimings(
                start_timeout_s=settings.placement_start_timeout_s,
                retry_s=settings.placement_retry_s,
            ),
        )
        self.loops.append(self.placement.run)
        self.rebalance = RebalanceLoop(store, lambda: election.epoch)
        self.loops.append(self.rebalance.run)

    async def run(self) -> None:
        """Work while leader; the caller cancels this when leadership ends."""
        await race(*(loop() for loop in self.loops))

    async def _requests(self) -> None:
        async for ev in self._store.watch_with_relist(keyspace.REQUESTS):
            if ev.type != "put":
                continue
            try:
                req = decode(state_pb2.CommandRequest, ev.value, key=ev.key)
            except RecordError as e:
                log.warning("%s", e)
                continue
            if req.command_id or req.kind in MANUAL_KINDS:
                continue  # journaled already, or a manual move (the rebalance loop's)
            await self._journal(req, ev.revision)

    async def _journal(self, req: state_pb2.CommandRequest, mod_revision: int) -> None:
        try:
            cmd = build_command(req, self._election.epoch)
        except ValueError as e:
            log.warning("request %s: %s", req.id, e)
            return
        entry = journal.new_entry(req.host, cmd, request_id=req.id)
        req.command_id = cmd.id
        rev = await self._store.txn_put_many(
            [
                (keyspace.command(req.host, cmd.id), encode(entry), 0),
                (keyspace.request(req.id), encode(req), mod_revision),
            ]
        )
        if rev is None:
            log.info("request %s was journaled by someone else", req.id)
        else:
            log.info("journaled %s for %s as command %s (epoch %d)", req.kind, req.host,
                     cmd.id, cmd.epoch)

    async def _prune(self) -> None:
        """Drop finished commands (and their requests) older than the retention."""
        while True:
            await asyncio.sleep(max(1.0, min(60.0, self._s.journal_retention_s / 10)))
            try:
                await self._prune_once(time.time())
            except StoreError as e:
                log.warning("journal pruning failed: %s", e)

    async def _prune_once(self, now: float) -> int:
        kvs, _ = await self._store.get_prefix(keyspace.COMMANDS)
        removed = 0
        for kv in kvs:
            entry = journal.entry_from_kv(kv)
            if entry is None or entry.state not in journal.FINISHED_STATES:
                continue
            if now - entry.finished_at < self._s.journal_retention_s:
                continue
            deletes: list[tuple[str, int | None]] = [(kv.key, kv.mod_revision)]
            if entry.request_id:
                deletes.append((keyspace.request(entry.request_id), None))
            if await self._store.txn_put_many([], deletes) is not None:
                removed += 1
        return removed
