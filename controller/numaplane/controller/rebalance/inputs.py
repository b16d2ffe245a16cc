"""Everything one rebalancing pass reads, from one consistent read of the keyspace.

From the snapshot (`numaplane.controller.state.snapshot`) and `numaplane.controller.state.views`:
the `ClusterView`. Added here, because the view does not carry them:

- the settings, from the policy record over its defaults (`numaplane.controller.policy.config`);
- when each VM last moved (`moves/<vm>`), for the cool-downs, with each record's
  mod_revision — the next move of that VM is written guarded by it, so two leaders that
  read the same snapshot cannot both move one VM;
- the context (`RebalanceContext`): VMs' reservations (their specs), which hosts can
  live-migrate (their Hello's capabilities), and which VMs are busy — a move, start or
  stop of theirs is still open in the journal, their placement is still `starting` or
  `stopping`, or their spec is being deleted.

Claims in flight — starts' and live migrations' (`numaplane.controller.placement.move_tracking`) —
are in the view (`HostView.claimed_by_node`), and the rebalancer's room checks start from
`HostView.available_bytes`, so a pass never plans into memory already promised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from numaplane.controller.policy.config import PolicyError, decode_policy, rebalance_settings
from numaplane.controller.policy.rebalance import RebalanceContext, RebalanceSettings
from numaplane.controller.policy.types import ClusterView
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.state.journal import OPEN_STATES
from numaplane.controller.state.snapshot import ClusterSnapshot, Versioned, snapshot_from_kvs
from numaplane.controller.state.views import build_view
from numaplane.controller.store import KV, ClusterStore
from numaplane.v1.state_pb2 import RebalanceTrigger, VmMove

log = logging.getLogger(__name__)

MOVE_KINDS = frozenset({"migrate_memory", "set_vcpu_affinity", "live_migrate"})
BUSY_KINDS = MOVE_KINDS | {"start_vm", "stop_vm"}


@dataclass(frozen=True)
class RebalanceInputs:
    snapshot: ClusterSnapshot
    settings: RebalanceSettings
    view: ClusterView
    context: RebalanceContext
    moves: dict[str, Versioned[VmMove]]
    trigger: Versioned[RebalanceTrigger] | None


async def read_inputs(store: ClusterStore, now: float) -> RebalanceInputs:
    kvs, revision = await store.get_prefix(keyspace.ROOT)
    return inputs_from(kvs, revision, now)


def inputs_from(kvs: list[KV], revision: int, now: float) -> RebalanceInputs:
    snapshot = snapshot_from_kvs(kvs, revision)
    moves = dict(snapshot.moves)
    trigger: Versioned[RebalanceTrigger] | None = None
    policy_text: str | None = None
    for kv in kvs:
        if kv.key == keyspace.REBALANCE_NOW:
            try:
                trigger = Versioned(decode(RebalanceTrigger, kv.value, key=kv.key), kv.mod_revision)
            except RecordError as e:
                log.warning("%s", e)
        elif kv.key == keyspace.POLICY:
            policy_text = kv.value
    try:
        policy = decode_policy(policy_text)
    except PolicyError as e:
        log.warning("rebalancing with the default policy: %s", e)
        policy = decode_policy(None)
    last_moved = {vm: m.value.at for vm, m in moves.items()}
    view = build_view(snapshot, now=now, last_moved=last_moved)
    return RebalanceInputs(
        snapshot=snapshot,
        settings=rebalance_settings(policy),
        view=view,
        context=context_of(snapshot),
        moves=moves,
        trigger=trigger,
    )


def context_of(snapshot: ClusterSnapshot) -> RebalanceContext:
    reservations = {
        name: vm.spec.value.reservation_bytes
        for name, vm in snapshot.vms.items()
        if vm.spec is not None
    }
    live = frozenset(
        name
        for name, host in snapshot.hosts.items()
        if host.info is not None and host.info.capabilities.live_migration
    )
    busy = {
        name for name, vm in snapshot.vms.items() if vm.spec is not None and vm.spec.value.deleted
    }
    # A start the agent applied but whose memory placement has not yet seen keeps its
    # placement `starting` (and its claim on the start host): moving it then would leave
    # that placement waiting for the VM on a host it has left.
    busy |= {
        name
        for name, vm in snapshot.vms.items()
        if vm.placement is not None and vm.placement.value.state in ("starting", "stopping")
    }
    for entry in snapshot.commands.values():
        e = entry.value
        kind = e.command.WhichOneof("kind")
        if e.state in OPEN_STATES and kind in BUSY_KINDS:
            busy.add(_vm_of(e.command, kind))
    return RebalanceContext(
        reservations=reservations, live_migration_hosts=live, busy=frozenset(busy)
    )


def _vm_of(command: object, kind: str) -> str:
    body = getattr(command, kind)
    return str(getattr(body, "vm", "") or getattr(body, "name", ""))
