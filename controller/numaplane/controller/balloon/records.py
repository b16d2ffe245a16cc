"""Writing an operator's balloon intent, guarded by compare-and-swap.

Intent goes where the VM's desired state lives: its `VmSpec` when it has one (written
by CreateVm), else a `BalloonIntent` record of its own. Every write is a CAS on the
mod_revision the caller read, so two operators (or an operator and the placement
reconciler rewriting the spec) never lose each other's change: the loser re-reads and
tries again (`numaplane.controller.state.cas`), re-validating against what it now sees.
"""

from __future__ import annotations

from numaplane.controller.balloon.inputs import VmBalloon
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore
from numaplane.v1.state_pb2 import BalloonIntent, VmSpec


async def write_intent(
    store: ClusterStore,
    vm: VmBalloon,
    *,
    target_bytes: int | None = None,
    auto: bool | None = None,
    now: float,
) -> bool:
    """Record a target and/or the auto switch; False when the record changed meanwhile."""
    if vm.spec is not None:
        spec = VmSpec()
        spec.CopyFrom(vm.spec.value)
        if target_bytes is not None:
            spec.balloon_target_bytes = target_bytes
        if auto is not None:
            spec.balloon_auto = auto
        rev = await store.compare_and_swap(
            keyspace.vm_spec(vm.name), encode(spec), vm.spec.mod_revision
        )
        return rev is not None
    intent = BalloonIntent(vm=vm.name)
    if vm.intent is not None:
        intent.CopyFrom(vm.intent.value)
    if target_bytes is not None:
        intent.target_bytes = target_bytes
    if auto is not None:
        intent.auto = auto
    intent.updated_at = now
    expected = vm.intent.mod_revision if vm.intent is not None else 0
    rev = await store.compare_and_swap(keyspace.vm_balloon(vm.name), encode(intent), expected)
    return rev is not None
