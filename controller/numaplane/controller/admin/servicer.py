"""The Admin gRPC servicer: what the `numaplane` CLI talks to.

Thin on purpose (ARCHITECTURE.md, "Store"): every method validates, then reads
cluster state from the store or writes *intent* (a command request) to it. Nothing
here acts on a host; the leader turns requests into journaled commands.

Construct it over a connected store and register it on a grpc.aio server:

    servicer = AdminServicer(store)
    admin_pb2_grpc.add_AdminServicer_to_server(servicer, server)

WatchEvents sends the current state first when asked (`include_existing`), then one
`synced` event marking the end of that snapshot (always, so that a client can tell
"nothing has happened yet" from "still loading"), then changes as they happen.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

import grpc
from grpc import aio

from numaplane.controller.admin.commands import (
    InvalidRequestError,
    command_record,
    find_entry,
    host_known,
    new_request,
    validate_request,
)
from numaplane.controller.admin.events import SYNCED, Clock, EventTranslator
from numaplane.controller.admin.messages import host_message, vm_message
from numaplane.controller.admin.policy import PolicyAdmin
from numaplane.controller.admin.records import group_hosts, vm_statuses, vms_by_host
from numaplane.controller.admin.refused import Refused
from numaplane.controller.balloon.admin import BalloonAdmin
from numaplane.controller.placement.admin import VmAdmin, placement_reason, unobserved_vms
from numaplane.controller.placement.validation import Refusal, VmRequestError
from numaplane.controller.rebalance.admin import RebalanceAdmin
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode, encode
from numaplane.controller.state.snapshot import snapshot_from_kvs
from numaplane.controller.store.contract import (
    ClusterStore,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)
from numaplane.v1 import admin_pb2_grpc
from numaplane.v1.admin_pb2 import (
    CommandRecord,
    CreateVmRequest,
    DeleteVmRequest,
    Event,
    ExplainVmRequest,
    ExplainVmResponse,
    GetCommandRequest,
    GetHostRequest,
    GetPolicyRequest,
    GetVmRequest,
    Host,
    HostScheduleResponse,
    ListBalloonsRequest,
    ListBalloonsResponse,
    ListHostsRequest,
    ListHostsResponse,
    ListVmsRequest,
    ListVmsResponse,
    MigrateVmRequest,
    PolicyResponse,
    RebalanceRequest,
    RebalanceResponse,
    RequestCommandRequest,
    RequestCommandResponse,
    SetBalloonAutoRequest,
    SetBalloonAutoResponse,
    SetBalloonRequest,
    SetHostScheduleRequest,
    SetPolicyRequest,
    Vm,
    VmIntentResponse,
    WatchEventsRequest,
)
from numaplane.v1.state_pb2 import CommandRequest, VmStatus

log = logging.getLogger(__name__)

Context = aio.ServicerContext[object, object]
M = TypeVar("M", VmStatus, CommandRequest)


class AdminServicer(admin_pb2_grpc.AdminServicer):
    def __init__(self, store: ClusterStore, *, clock: Clock = time.time) -> None:
        self._store = store
        self._clock = clock
        self._watchers = 0
        self._balloons = BalloonAdmin(store, clock=clock)
        self._policy = PolicyAdmin(store)
        self._vms = VmAdmin(store, clock=clock)
        self._rebalance = RebalanceAdmin(store, clock=clock)

    @property
    def watchers(self) -> int:
        """Open WatchEvents streams (each holds one store watch)."""
        return self._watchers

    async def ListHosts(self, request: ListHostsRequest, context: Context) -> ListHostsResponse:
        async with _store_errors(context):
            host_kvs, _ = await self._store.get_prefix(keyspace.HOSTS)
            vm_kvs, _ = await self._store.get_prefix(keyspace.VMS)
        hosts = group_hosts(host_kvs)
        by_host = vms_by_host(vm_statuses(vm_kvs).values())
        return ListHostsResponse(
            hosts=[host_message(hosts[name], by_host.get(name, [])) for name in sorted(hosts)]
        )

    async def GetHost(self, request: GetHostRequest, context: Context) -> Host:
        await _check_name(context, "host", request.name)
        async with _store_errors(context):
            host_kvs, _ = await self._store.get_prefix(f"{keyspace.HOSTS}{request.name}/")
            vm_kvs, _ = await self._store.get_prefix(keyspace.VMS)
        records = group_hosts(host_kvs).get(request.name)
        if records is None:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown host {request.name!r}")
        vms = vms_by_host(vm_statuses(vm_kvs).values()).get(request.name, [])
        return host_message(records, vms)

    async def ListVms(self, request: ListVmsRequest, context: Context) -> ListVmsResponse:
        if request.host:
            await _check_name(context, "host", request.host)
        async with _store_errors(context):
            host_kvs, _ = await self._store.get_prefix(keyspace.HOSTS)
            vm_kvs, _ = await self._store.get_prefix(keyspace.VMS)
        hosts = group_hosts(host_kvs)
        if request.host and request.host not in hosts:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown host {request.host!r}")
        statuses = vm_statuses(vm_kvs)
        records = snapshot_from_kvs(vm_kvs, 0).vms
        observed = [
            vm_message(s, hosts[s.host].up if s.host in hosts else False)
            for name, s in sorted(statuses.items())
            if not request.host or s.host == request.host
        ]
        for vm in observed:
            vm.reason = placement_reason(records[vm.name]) if vm.name in records else ""
        pending = unobserved_vms(vm_kvs, request.host)
        return ListVmsResponse(vms=sorted([*observed, *pending], key=lambda v: v.name))

    async def GetVm(self, request: GetVmRequest, context: Context) -> Vm:
        await _check_name(context, "VM", request.name)
        async with _store_errors(context):
            kv = await self._store.get(keyspace.vm_status(request.name))
            if kv is None:
                vm_kvs, _ = await self._store.get_prefix(f"{keyspace.VMS}{request.name}/")
                if pending := unobserved_vms(vm_kvs):
                    return pending[0]
                await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown VM {request.name!r}")
            status = await _decode_or_abort(context, VmStatus, kv.value, kv.key)
            status.name = status.name or request.name
            alive = await self._store.get(keyspace.host_alive(status.host)) if status.host else None
            vm_kvs, _ = await self._store.get_prefix(f"{keyspace.VMS}{request.name}/")
        found = vm_message(status, alive is not None)
        record = snapshot_from_kvs(vm_kvs, 0).vms.get(request.name)
        found.reason = placement_reason(record) if record is not None else ""
        return found

    # grpc.aio runs a coroutine handler in one task and lets it write with
    # context.write(); unlike an async-generator handler (which grpc abandons without
    # closing when the client cancels mid-send), every exit path of this coroutine
    # closes the store watch before the RPC's task ends. Hence the override.
    async def WatchEvents(  # type: ignore[override]
        self, request: WatchEventsRequest, context: Context
    ) -> None:
        self._watchers += 1
        try:
            await self._watch_events(request, context)
        finally:
            self._watchers -= 1

    async def _watch_events(self, request: WatchEventsRequest, context: Context) -> None:
        translator = EventTranslator(self._clock)
        async with _store_errors(context):
            kvs, revision = await self._store.get_prefix(keyspace.ROOT)
        existing = translator.prime(kvs)
        if request.include_existing:
            for event in existing:
                await context.write(event)
        await context.write(
            Event(at=self._clock(), kind=SYNCED, message=f"watching from revision {revision + 1}")
        )
        async with _store_errors(context):
            changes = self._store.watch_with_relist(keyspace.ROOT, revision + 1)
            async with _closing(changes):
                async for change in changes:
                    for event in translator.translate(change):
                        await context.write(event)

    async def RequestCommand(
        self, request: RequestCommandRequest, context: Context
    ) -> RequestCommandResponse:
        try:
            validate_request(request.host, request.kind, request.payload)
        except InvalidRequestError as e:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e))
        async with _store_errors(context):
            host_kvs, _ = await self._store.get_prefix(f"{keyspace.HOSTS}{request.host}/")
            if not host_known(group_hosts(host_kvs).get(request.host)):
                await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown host {request.host!r}")
            record = new_request(request.host, request.kind, request.payload)
            if await self._store.create(keyspace.request(record.id), encode(record)) is None:
                # A uuid4 collision: astronomically unlikely, but never overwrite intent.
                await context.abort(grpc.StatusCode.ABORTED, "request id collision; retry")
        log.info("command requested: %s on %s (request %s)", record.kind, record.host, record.id)
        return RequestCommandResponse(request_id=record.id)

    async def GetCommand(self, request: GetCommandRequest, context: Context) -> CommandRecord:
        await _check_name(context, "request id", request.request_id)
        async with _store_errors(context):
            kv = await self._store.get(keyspace.request(request.request_id))
            if kv is None:
                await context.abort(
                    grpc.StatusCode.NOT_FOUND, f"unknown command request {request.request_id!r}"
                )
            stored = await _decode_or_abort(context, CommandRequest, kv.value, kv.key)
            entry = await find_entry(self._store, stored)
        return command_record(stored, entry)

    # -- balloons (numaplane.controller.balloon.admin) and the cluster policy (.policy) --

    async def SetBalloon(self, request: SetBalloonRequest, context: Context) -> VmIntentResponse:
        async with _store_errors(context), _refused(context):
            response = await self._balloons.set_balloon(request.vm, request.target_bytes)
        log.info("balloon set: %s", response.message)
        return response

    async def ListBalloons(
        self, request: ListBalloonsRequest, context: Context
    ) -> ListBalloonsResponse:
        async with _store_errors(context), _refused(context):
            return await self._balloons.list_balloons(request.vm)

    async def SetBalloonAuto(
        self, request: SetBalloonAutoRequest, context: Context
    ) -> SetBalloonAutoResponse:
        async with _store_errors(context), _refused(context):
            response = await self._balloons.set_auto(request.vm, request.enabled)
        log.info("%s", response.message)
        return response

    async def GetPolicy(self, request: GetPolicyRequest, context: Context) -> PolicyResponse:
        async with _store_errors(context), _refused(context):
            return await self._policy.get_policy()

    async def SetPolicy(self, request: SetPolicyRequest, context: Context) -> PolicyResponse:
        async with _store_errors(context), _refused(context):
            response = await self._policy.set_policy(dict(request.values))
        log.info("policy changed: %s", ", ".join(f"{k}={v}" for k, v in request.values.items()))
        return response

    # -- VMs and host scheduling (numaplane.controller.placement.admin)
    # --------------

    async def CreateVm(self, request: CreateVmRequest, context: Context) -> VmIntentResponse:
        async with _store_errors(context), _refusals(context):
            response = await self._vms.create(request)
        log.info("VM created: %s", response.message)
        return response

    async def DeleteVm(self, request: DeleteVmRequest, context: Context) -> VmIntentResponse:
        async with _store_errors(context), _refusals(context):
            return await self._vms.delete(request)

    async def ExplainVm(self, request: ExplainVmRequest, context: Context) -> ExplainVmResponse:
        async with _store_errors(context), _refusals(context):
            return await self._vms.explain(request)

    async def SetHostSchedule(
        self, request: SetHostScheduleRequest, context: Context
    ) -> HostScheduleResponse:
        async with _store_errors(context), _refusals(context):
            response = await self._vms.set_schedule(request)
        log.info("host %s: %s", request.host, request.action)
        return response


    # -- Rebalancing (numaplane.controller.rebalance.admin) -------------------

    async def Rebalance(self, request: RebalanceRequest, context: Context) -> RebalanceResponse:
        async with _store_errors(context):
            response = await self._rebalance.rebalance(request)
        log.info("rebalance%s: %s", " (dry run)" if request.dry_run else "", response.message)
        return response

    async def MigrateVm(self, request: MigrateVmRequest, context: Context) -> VmIntentResponse:
        async with _store_errors(context), _refusals(context):
            response = await self._rebalance.migrate_vm(request)
        log.info("VM move requested: %s", response.message)
        return response


async def _check_name(context: Context, what: str, name: str) -> None:
    if not keyspace.valid_name(name):
        await context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"invalid {what} name {name!r}")


async def _decode_or_abort(context: Context, cls: type[M], value: str, key: str) -> M:
    try:
        return decode(cls, value, key=key)
    except RecordError as e:
        log.warning("%s", e)
        await context.abort(grpc.StatusCode.DATA_LOSS, str(e))


@contextlib.asynccontextmanager
async def _closing(changes: AsyncIterator[WatchEvent]) -> AsyncIterator[None]:
    """Close the watch on every way out (cancellation included), not at garbage collection."""
    try:
        yield
    finally:
        if isinstance(changes, AsyncGenerator):
            await changes.aclose()


_REFUSAL_CODES = {
    Refusal.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Refusal.EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Refusal.UNKNOWN: grpc.StatusCode.NOT_FOUND,
}


@contextlib.asynccontextmanager
async def _refusals(context: Context) -> AsyncIterator[None]:
    """A refused VM or schedule request becomes its gRPC status, the message intact."""
    try:
        yield
    except VmRequestError as e:
        await context.abort(_REFUSAL_CODES[e.kind], e.message)


@contextlib.asynccontextmanager
async def _refused(context: Context) -> AsyncIterator[None]:
    """A refused balloon or policy request becomes its gRPC status, the message intact."""
    try:
        yield
    except Refused as e:
        await context.abort(e.code, e.message)


@contextlib.asynccontextmanager
async def _store_errors(context: Context) -> AsyncIterator[None]:
    """Turn store failures into gRPC statuses the CLI can explain in one line."""
    try:
        yield
    except StoreUnavailableError as e:
        await context.abort(grpc.StatusCode.UNAVAILABLE, f"cluster store unavailable: {e}")
    except StoreError as e:
        log.exception("store error in admin API")
        await context.abort(grpc.StatusCode.INTERNAL, f"cluster store error: {e}")
