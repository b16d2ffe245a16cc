"""A synchronous client of the admin API, speaking in messages and CliErrors.

Why the sync channel and not grpc.aio under asyncio.run: the CLI is one short,
sequential program. Sync stubs need no event loop, Ctrl-C interrupts a blocking
call or a stream as it would any program (grpc's sync iterators wake up to let
KeyboardInterrupt through), and a test can run the CLI in a worker thread next to
a grpc.aio server in its own loop without the two loops meeting.

Every call carries a deadline (`timeout`), except a followed event stream, which
lasts as long as the operator wants it. A call never waits for the controller to
come up (no wait_for_ready): an unreachable controller is reported at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

import grpc

from numaplane.controller.admin.events import SYNCED
from numaplane.controller.cli.errors import CliError, explain_rpc_error
from numaplane.v1 import admin_pb2_grpc
from numaplane.v1.admin_pb2 import (
    BalloonRow,
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
    ListHostsRequest,
    ListVmsRequest,
    MigrateVmRequest,
    RebalanceRequest,
    RebalanceResponse,
    RequestCommandRequest,
    SetBalloonAutoRequest,
    SetBalloonRequest,
    SetHostScheduleRequest,
    SetPolicyRequest,
    Vm,
    VmIntentResponse,
    WatchEventsRequest,
)

R = TypeVar("R")

_STREAM_LOST = (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED)
"""How a followed stream ends when the controller stops or the connection breaks."""


class AdminClient:
    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout
        self._channel = grpc.insecure_channel(address)
        self._stub = admin_pb2_grpc.AdminStub(self._channel)

    def close(self) -> None:
        self._channel.close()

    def list_hosts(self) -> list[Host]:
        return list(
            self._call(lambda: self._stub.ListHosts(ListHostsRequest(), timeout=self.timeout)).hosts
        )

    def get_host(self, name: str) -> Host:
        return self._call(
            lambda: self._stub.GetHost(GetHostRequest(name=name), timeout=self.timeout)
        )

    def list_vms(self, host: str = "") -> list[Vm]:
        response = self._call(
            lambda: self._stub.ListVms(ListVmsRequest(host=host), timeout=self.timeout)
        )
        return list(response.vms)

    def get_vm(self, name: str) -> Vm:
        return self._call(lambda: self._stub.GetVm(GetVmRequest(name=name), timeout=self.timeout))

    def request_command(self, host: str, kind: str, payload: str = "") -> str:
        request = RequestCommandRequest(host=host, kind=kind, payload=payload)
        response = self._call(lambda: self._stub.RequestCommand(request, timeout=self.timeout))
        return response.request_id

    def get_command(self, request_id: str) -> CommandRecord:
        request = GetCommandRequest(request_id=request_id)
        return self._call(lambda: self._stub.GetCommand(request, timeout=self.timeout))

    def set_balloon(self, vm: str, target_bytes: int) -> str:
        request = SetBalloonRequest(vm=vm, target_bytes=target_bytes)
        return self._call(lambda: self._stub.SetBalloon(request, timeout=self.timeout)).message

    def list_balloons(self, vm: str = "") -> list[BalloonRow]:
        request = ListBalloonsRequest(vm=vm)
        response = self._call(lambda: self._stub.ListBalloons(request, timeout=self.timeout))
        return list(response.balloons)

    def set_balloon_auto(self, vm: str, enabled: bool) -> str:
        request = SetBalloonAutoRequest(vm=vm, enabled=enabled)
        return self._call(lambda: self._stub.SetBalloonAuto(request, timeout=self.timeout)).message

    def get_policy(self) -> str:
        """The cluster policy as JSON."""
        request = GetPolicyRequest()
        return self._call(lambda: self._stub.GetPolicy(request, timeout=self.timeout)).json

    def set_policy(self, values: dict[str, str]) -> str:
        """Change policy knobs (validated as a whole); the new policy as JSON."""
        request = SetPolicyRequest(values=values)
        return self._call(lambda: self._stub.SetPolicy(request, timeout=self.timeout)).json

    def create_vm(self, request: CreateVmRequest) -> VmIntentResponse:
        return self._call(lambda: self._stub.CreateVm(request, timeout=self.timeout))

    def delete_vm(self, name: str) -> VmIntentResponse:
        request = DeleteVmRequest(name=name)
        return self._call(lambda: self._stub.DeleteVm(request, timeout=self.timeout))

    def explain_vm(self, name: str) -> ExplainVmResponse:
        request = ExplainVmRequest(name=name)
        return self._call(lambda: self._stub.ExplainVm(request, timeout=self.timeout))

    def set_host_schedule(self, host: str, action: str) -> HostScheduleResponse:
        request = SetHostScheduleRequest(host=host, action=action)
        return self._call(lambda: self._stub.SetHostSchedule(request, timeout=self.timeout))

    def rebalance(self, *, dry_run: bool) -> RebalanceResponse:
        request = RebalanceRequest(dry_run=dry_run)
        return self._call(lambda: self._stub.Rebalance(request, timeout=self.timeout))

    def migrate_vm(self, vm: str, *, nodes: tuple[int, ...] = (), host: str = "") -> (
        VmIntentResponse
    ):
        request = MigrateVmRequest(vm=vm, nodes=list(nodes), host=host)
        return self._call(lambda: self._stub.MigrateVm(request, timeout=self.timeout))

    def events(self, *, include_existing: bool, follow: bool) -> Iterator[Event]:
        """Cluster events; without `follow`, only the current state, then stop.

        The `synced` marker (end of the initial snapshot) is consumed here, not yielded.
        Leaving the iterator (break, exception, Ctrl-C) cancels the stream.
        """
        call = self._stub.WatchEvents(
            WatchEventsRequest(include_existing=include_existing),
            timeout=None if follow else self.timeout,
        )
        try:
            for event in call:
                if event.kind == SYNCED:
                    if not follow:
                        return
                    continue
                yield event
        except grpc.RpcError as e:
            if follow and isinstance(e, grpc.Call) and e.code() in _STREAM_LOST:
                raise CliError(
                    f"lost the event stream from controller at {self.address} "
                    f"({e.details() or e.code().name.lower()})"
                ) from e
            raise explain_rpc_error(e, self.address, None if follow else self.timeout) from e
        finally:
            call.cancel()
        if follow:
            raise CliError(f"controller at {self.address} ended the event stream")

    def _call(self, fn: Callable[[], R]) -> R:
        try:
            return fn()
        except grpc.RpcError as e:
            raise explain_rpc_error(e, self.address, self.timeout) from e
