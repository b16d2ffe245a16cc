"""The VM and host-scheduling half of the admin API: intent in, explanations out.

Like the rest of the admin servicer, nothing here acts on a host. `create` stores a
validated `VmSpec` with create-if-absent (two requests for one name cannot both
succeed); `delete` marks the spec deleted (the leader stops the VM, then removes its
records); `explain` reads the placement the leader wrote; `set_schedule` records an
operator's cordon or drain. Refusals are `VmRequestError`s, which the servicer turns into
gRPC statuses with the message as the one line the CLI prints.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from numaplane.common.units import format_size
from numaplane.controller.placement.validation import Refusal, VmRequestError, validate_create
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, VmRecord, snapshot_from_kvs
from numaplane.controller.store.contract import KV, ClusterStore
from numaplane.v1.admin_pb2 import (
    CreateVmRequest,
    DeleteVmRequest,
    ExplainVmRequest,
    ExplainVmResponse,
    HostScheduleResponse,
    SetHostScheduleRequest,
    Vm,
    VmIntentResponse,
)
from numaplane.v1.state_pb2 import HostSchedule, VmPlacement, VmSpec
from numaplane.v1.types_pb2 import VmObservation

SCHEDULE_ACTIONS = ("cordon", "uncordon", "drain")

_CAS_ATTEMPTS = 5

NOT_CONSIDERED = "not yet considered by the placement loop (is a controller leading?)"


class VmAdmin:
    def __init__(self, store: ClusterStore, *, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    async def _snapshot(self, *prefixes: str) -> ClusterSnapshot:
        kvs: list[KV] = []
        revision = 0
        for prefix in prefixes:
            found, revision = await self._store.get_prefix(prefix)
            kvs.extend(found)
        return snapshot_from_kvs(kvs, revision)

    async def create(self, request: CreateVmRequest) -> VmIntentResponse:
        snapshot = await self._snapshot(keyspace.HOSTS, keyspace.VMS)
        spec = validate_create(request, snapshot, now=self._clock())
        if await self._store.create(keyspace.vm_spec(spec.name), encode(spec)) is None:
            raise VmRequestError(Refusal.EXISTS, f"VM {spec.name!r} already exists")
        return VmIntentResponse(name=spec.name, message=f"VM {spec.name} created: {_size(spec)}")

    async def delete(self, request: DeleteVmRequest) -> VmIntentResponse:
        name = request.name
        _check_vm_name(name)
        key = keyspace.vm_spec(name)
        for _ in range(_CAS_ATTEMPTS):
            snapshot = await self._snapshot(f"{keyspace.VMS}{name}/")
            vm = snapshot.vms.get(name)
            if vm is None or vm.spec is None:
                if vm is not None and vm.status is not None:
                    raise VmRequestError(
                        Refusal.INVALID,
                        f"VM {name!r} on host {vm.status.value.host} was not created by "
                        "numaplane (it has no spec); stop it where it was started",
                    )
                raise VmRequestError(Refusal.UNKNOWN, f"unknown VM {name!r}")
            spec = vm.spec.value
            if spec.deleted:
                return VmIntentResponse(name=name, message=f"VM {name} is already being deleted")
            spec.deleted = True
            if await self._store.compare_and_swap(key, encode(spec), vm.spec.mod_revision):
                return VmIntentResponse(name=name, message=f"VM {name} marked for deletion")
        raise VmRequestError(Refusal.INVALID, f"VM {name!r} kept changing; retry the delete")

    async def explain(self, request: ExplainVmRequest) -> ExplainVmResponse:
        name = request.name
        _check_vm_name(name)
        snapshot = await self._snapshot(f"{keyspace.VMS}{name}/")
        vm = snapshot.vms.get(name)
        if vm is None or (vm.spec is None and vm.placement is None):
            if vm is not None and vm.status is not None:
                raise VmRequestError(
                    Refusal.UNKNOWN,
                    f"VM {name!r} was not placed by numaplane (it runs on "
                    f"{vm.status.value.host} without a spec): nothing to explain",
                )
            raise VmRequestError(Refusal.UNKNOWN, f"unknown VM {name!r}")
        if vm.placement is None:
            return ExplainVmResponse(name=name, state="pending", reason=NOT_CONSIDERED)
        return explain_message(vm.placement.value)

    async def set_schedule(self, request: SetHostScheduleRequest) -> HostScheduleResponse:
        host, action = request.host, request.action
        if not keyspace.valid_name(host):
            raise VmRequestError(Refusal.INVALID, f"invalid host name {host!r}")
        if action not in SCHEDULE_ACTIONS:
            raise VmRequestError(
                Refusal.INVALID,
                f"unknown action {action!r} (expected one of: {', '.join(SCHEDULE_ACTIONS)})",
            )
        key = keyspace.host_schedule(host)
        for _ in range(_CAS_ATTEMPTS):
            snapshot = await self._snapshot(f"{keyspace.HOSTS}{host}/")
            record = snapshot.hosts.get(host)
            if record is None or (record.info is None and not record.alive):
                raise VmRequestError(Refusal.UNKNOWN, f"unknown host {host!r}")
            old = record.schedule
            if action == "uncordon":
                if old is None or await self._store.delete(key, mod_revision=old.mod_revision):
                    return HostScheduleResponse(host=host)
                continue
            schedule = HostSchedule()
            if old is not None:
                schedule.CopyFrom(old.value)
            if action == "cordon":
                schedule.cordoned = True
            else:
                schedule.draining = True
            schedule.since = schedule.since or self._clock()
            revision = old.mod_revision if old is not None else 0
            if await self._store.compare_and_swap(key, encode(schedule), revision):
                return HostScheduleResponse(
                    host=host, cordoned=schedule.cordoned, draining=schedule.draining
                )
        raise VmRequestError(Refusal.INVALID, f"host {host!r} schedule kept changing; retry")


def explain_message(p: VmPlacement) -> ExplainVmResponse:
    return ExplainVmResponse(
        name=p.name,
        state=p.state,
        policy=p.policy,
        host=p.host,
        nodes=list(p.nodes),
        reasons=list(p.reasons),
        considered=list(p.considered),
        decided_at=p.decided_at,
        reason=p.reason,
    )


def unobserved_vms(kvs: Iterable[KV], host: str = "") -> list[Vm]:
    """VMs that have a spec but no observed status yet (pending, starting, failed).

    `numaplane vms` lists them next to the observed ones, with the placement's state and
    reason, so that a VM that fits nowhere is visible with why.
    """
    snapshot = snapshot_from_kvs(kvs, 0)
    out: list[Vm] = []
    for name in sorted(snapshot.vms):
        vm = snapshot.vms[name]
        if vm.spec is None or vm.status is not None:
            continue
        message = pending_vm_message(vm)
        if not host or message.host == host:
            out.append(message)
    return out


def pending_vm_message(vm: VmRecord) -> Vm:
    """A VM known by its spec only: its placement's state and reason, its requested size."""
    assert vm.spec is not None
    spec: VmSpec = vm.spec.value
    placement = vm.placement.value if vm.placement is not None else None
    state = placement.state if placement is not None and placement.state else "pending"
    reason = placement.reason if placement is not None else NOT_CONSIDERED
    if spec.deleted:
        state, reason = "stopping", f"deleting{': ' + reason if reason else ''}"
    return Vm(
        name=spec.name,
        host=placement.host if placement is not None else "",
        state=state,
        observed=VmObservation(
            name=spec.name, vcpus=spec.vcpus, memory_bytes=spec.memory_bytes, state=state
        ),
        reason=reason,
    )


def placement_reason(vm: VmRecord) -> str:
    """The reason to show next to an observed VM whose placement is not `running`."""
    if vm.spec is not None and vm.spec.value.deleted:
        return "deleting"
    p = vm.placement.value if vm.placement is not None else None
    if p is None or p.state == "running":
        return ""
    return p.reason


def _check_vm_name(name: str) -> None:
    if not keyspace.valid_name(name):
        raise VmRequestError(Refusal.INVALID, f"invalid VM name {name!r}")


def _size(spec: VmSpec) -> str:
    parts = [f"{spec.vcpus} vCPUs", format_size(spec.memory_bytes)]
    if spec.reservation_bytes:
        parts.append(f"reservation {format_size(spec.reservation_bytes)}")
    if spec.limit_bytes:
        parts.append(f"limit {format_size(spec.limit_bytes)}")
    if spec.host:
        nodes = f" nodes {','.join(map(str, spec.nodes))}" if spec.nodes else ""
        parts.append(f"on {spec.host}{nodes}")
    return ", ".join(parts) + "; pending placement"
