"""The Rebalance and MigrateVm RPCs: reads and intent only, as every admin method.

- `Rebalance(dry_run=true)` reads the cluster, runs the rebalancer on it (a fresh one:
  full budgets, whatever the periodic setting, and none of what the leader's remembers
  between passes — which VMs grew, which hosts ran out of memory) and returns the moves
  with their reasons. Nothing is written.
- `Rebalance(dry_run=false)` ("rebalance now") writes a trigger (`rebalance/now`); the
  leader runs a pass at once, journals its moves and answers in the trigger. The
  response carries the same preview as a dry run: the leader plans from the cluster as
  it is when it runs, which is usually what the preview shows.
- `MigrateVm` checks the move against the cluster now (the same rules the leader
  applies: `numaplane.controller.policy.rebalance.manual`) and records an operator request of kind
  `migrate-memory` or `live-migrate`, which the leader's rebalance loop journals (or
  refuses, if the cluster changed). The request id follows it like any command's
  (`numaplane command show`, `--wait`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable

from numaplane.common.units import format_size
from numaplane.controller.placement.validation import Refusal, VmRequestError
from numaplane.controller.policy.rebalance import NumaplaneRebalancer
from numaplane.controller.policy.rebalance.manual import (
    ManualMoveRefused,
    manual_host_move,
    manual_memory_move,
)
from numaplane.controller.policy.types import Action
from numaplane.controller.rebalance.commands import moved_bytes, planned_move
from numaplane.controller.rebalance.inputs import read_inputs
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore
from numaplane.v1.admin_pb2 import (
    MigrateVmRequest,
    RebalanceRequest,
    RebalanceResponse,
    VmIntentResponse,
)
from numaplane.v1.state_pb2 import CommandRequest, RebalanceTrigger


class RebalanceAdmin:
    def __init__(self, store: ClusterStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def rebalance(self, request: RebalanceRequest) -> RebalanceResponse:
        inputs = await read_inputs(self._store, self._clock())
        rebalancer = NumaplaneRebalancer(inputs.settings)
        actions = rebalancer.plan(inputs.view, inputs.context)
        summary = _summary(actions)
        periodic = (
            f"periodic rebalancing is on (every {inputs.settings.period_s:g} s)"
            if inputs.settings.enabled
            else "periodic rebalancing is off"
        )
        if request.dry_run:
            message = f"dry run: {summary}; {periodic}"
        else:
            trigger = RebalanceTrigger(id=uuid.uuid4().hex, requested_at=self._clock())
            await self._store.put(keyspace.REBALANCE_NOW, encode(trigger))
            message = (
                f"pass requested ({trigger.id}): the leader runs it now and journals what it "
                f"finds then; preview: {summary}"
            )
        return RebalanceResponse(moves=[planned_move(a) for a in actions], message=message)

    async def migrate_vm(self, request: MigrateVmRequest) -> VmIntentResponse:
        if not keyspace.valid_name(request.vm):
            raise VmRequestError(Refusal.INVALID, f"invalid VM name {request.vm!r}")
        if bool(request.nodes) == bool(request.host):
            raise VmRequestError(
                Refusal.INVALID, "give either target nodes (--nodes) or a target host (--host)"
            )
        if request.host and not keyspace.valid_name(request.host):
            raise VmRequestError(Refusal.INVALID, f"invalid host name {request.host!r}")
        inputs = await read_inputs(self._store, self._clock())
        try:
            if request.nodes:
                action: Action = manual_memory_move(
                    inputs.view, request.vm, tuple(request.nodes), inputs.settings
                )
            else:
                action = manual_host_move(
                    inputs.view, request.vm, request.host, inputs.context, inputs.settings
                )
        except ManualMoveRefused as e:
            unknown = str(e).startswith(("VM ", "unknown host"))
            raise VmRequestError(Refusal.UNKNOWN if unknown else Refusal.INVALID, str(e)) from None
        kind = "migrate-memory" if request.nodes else "live-migrate"
        payload = (
            {"vm": request.vm, "nodes": sorted(set(request.nodes))}
            if request.nodes
            else {"vm": request.vm, "host": request.host}
        )
        record = CommandRequest(
            id=uuid.uuid4().hex,
            host=action.host,
            kind=kind,
            payload=json.dumps(payload),
            requested_at=self._clock(),
        )
        if await self._store.create(keyspace.request(record.id), encode(record)) is None:
            raise VmRequestError(Refusal.EXISTS, "request id collision; retry")
        return VmIntentResponse(
            name=request.vm, message=f"requested: {action.reason}", request_id=record.id
        )


def _summary(actions: tuple[Action, ...]) -> str:
    if not actions:
        return "nothing to move"
    total = sum(moved_bytes(a) for a in actions)
    return f"{len(actions)} moves, {format_size(total)} to copy"
