"""The admin API's balloon methods: validate, then record intent.

Thin like the rest of the admin servicer: nothing here talks to an agent. `set_balloon`
checks the target against the VM's bounds and driver, then writes the operator's target
(the leader's balloon loop journals the SetBalloon command); `set_auto` flips a VM's or
the cluster's switch. A refused request raises `Refused` with the gRPC status to answer
and changes nothing.
"""

from __future__ import annotations

import time

import grpc

from numaplane.common.units import format_size
from numaplane.controller.admin.events import Clock
from numaplane.controller.admin.policy import PolicyAdmin
from numaplane.controller.admin.refused import Refused, invalid, retrying
from numaplane.controller.balloon.inputs import VmBalloon, balloon_intents, vm_balloons
from numaplane.controller.balloon.records import write_intent
from numaplane.controller.policy.config import decode_policy
from numaplane.controller.state import keyspace
from numaplane.controller.state.policy_record import read_policy
from numaplane.controller.state.snapshot import snapshot_from_kvs
from numaplane.controller.store import ClusterStore
from numaplane.v1.admin_pb2 import (
    BalloonRow,
    ListBalloonsResponse,
    SetBalloonAutoResponse,
    VmIntentResponse,
)


def check_target(vm: VmBalloon, target: int) -> None:
    """Refuse a target the VM cannot take; the message names the bound."""
    size = format_size
    if not vm.known:
        raise Refused(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"VM {vm.name!r} has no balloon its host's driver can set "
            "(the agent reports none for it)",
        )
    if target <= 0:
        raise invalid("a balloon target must be greater than zero")
    if target < vm.reservation_bytes:
        raise invalid(
            f"target {size(target)} is below VM {vm.name!r}'s reservation "
            f"{size(vm.reservation_bytes)}"
        )
    if vm.limit_bytes is not None and target > vm.limit_bytes:
        raise invalid(
            f"target {size(target)} is above VM {vm.name!r}'s limit {size(vm.limit_bytes)}"
        )
    if target > vm.max_bytes:
        raise invalid(
            f"target {size(target)} is above VM {vm.name!r}'s maximum memory "
            f"{size(vm.max_bytes)}"
        )


def balloon_row(vm: VmBalloon, cluster_auto: bool) -> BalloonRow:
    row = BalloonRow(
        vm=vm.name,
        host=vm.host,
        auto=vm.auto,
        reservation_bytes=vm.reservation_bytes,
        limit_bytes=vm.limit_bytes or 0,
        shares=vm.shares,
        requested_bytes=vm.requested_bytes,
        cluster_auto=cluster_auto,
        max_bytes=vm.max_bytes,
    )
    if vm.status is not None:
        row.state.CopyFrom(vm.status.observed.balloon)
    if vm.command is not None:
        row.command_state = vm.command.state
        row.command_target_bytes = vm.command.command.set_balloon.target_bytes
        row.command_message = vm.command.message
        row.command_id = vm.command.id
    return row


class BalloonAdmin:
    def __init__(self, store: ClusterStore, *, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock
        self._policy = PolicyAdmin(store)  # the cluster-wide switch is a policy knob

    async def _vm(self, name: str) -> VmBalloon:
        if not keyspace.valid_name(name):
            raise invalid(f"invalid VM name {name!r}")
        kvs, revision = await self._store.get_prefix(f"{keyspace.VMS}{name}/")
        found = vm_balloons(snapshot_from_kvs(kvs, revision), balloon_intents(kvs)).get(name)
        if found is None:
            raise Refused(grpc.StatusCode.NOT_FOUND, f"unknown VM {name!r}")
        return found

    async def set_balloon(self, name: str, target: int) -> VmIntentResponse:
        async def attempt() -> VmBalloon | None:
            vm = await self._vm(name)
            check_target(vm, target)
            ok = await write_intent(self._store, vm, target_bytes=target, auto=False,
                                    now=self._clock())
            return vm if ok else None

        vm = await retrying(attempt)
        note = " (auto was on: now off for this VM)" if vm.auto else ""
        return VmIntentResponse(
            name=name,
            message=f"balloon target of {name} set to {format_size(target)} on host "
            f"{vm.host or '?'}{note}; the leader sends it to the agent",
        )

    async def list_balloons(self, name: str = "") -> ListBalloonsResponse:
        if name and not keyspace.valid_name(name):
            raise invalid(f"invalid VM name {name!r}")
        kvs, revision = await self._store.get_prefix(keyspace.ROOT)
        snapshot = snapshot_from_kvs(kvs, revision)
        policy_kv = next((kv for kv in kvs if kv.key == keyspace.POLICY), None)
        cluster_auto = decode_policy(policy_kv.value if policy_kv else None).balloon.enabled
        vms = vm_balloons(snapshot, balloon_intents(kvs))
        if name:
            if name not in vms:
                raise Refused(grpc.StatusCode.NOT_FOUND, f"unknown VM {name!r}")
            return ListBalloonsResponse(balloons=[balloon_row(vms[name], cluster_auto)])
        return ListBalloonsResponse(
            balloons=[balloon_row(v, cluster_auto) for v in vms.values() if v.status is not None]
        )

    async def set_auto(self, name: str, enabled: bool) -> SetBalloonAutoResponse:
        word = "on" if enabled else "off"
        if not name:
            await self._policy.set_policy({"balloon.enabled": "true" if enabled else "false"})
            return SetBalloonAutoResponse(message=f"balloon policy {word} cluster-wide")

        async def attempt() -> VmBalloon | None:
            vm = await self._vm(name)
            if enabled and vm.status is not None and not vm.known:
                raise Refused(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    f"VM {name!r} has no balloon its host's driver can set",
                )
            # Turning auto on hands the balloon to the policy: an old manual target
            # must not come back when auto is turned off again.
            ok = await write_intent(self._store, vm, auto=enabled,
                                    target_bytes=0 if enabled else None, now=self._clock())
            return vm if ok else None

        await retrying(attempt)
        policy, _ = await read_policy(self._store)
        note = "" if policy.balloon.enabled or not enabled else (
            " (the cluster-wide switch is off: `numaplane balloon auto on` to enable it)"
        )
        return SetBalloonAutoResponse(message=f"balloon auto {word} for {name}{note}")
