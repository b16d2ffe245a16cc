"""The StartVm and StopVm command handlers, over the host driver's `VmLifecycle`.

They run the backend call in a worker thread (backends are synchronous and may block on
libvirt), turn a backend refusal into a failed result whose message the controller reads
(`no room: ...` for a binding that cannot hold the VM, which it retries elsewhere), and
ask for a report at once so the controller sees the new VM — and can release its claim —
without waiting for the next report interval.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from numaplane.hostagent.commands.executor import CommandFailed, Executor
from numaplane.hostagent.drivers.contract import BackendError, VmLifecycle, VmStart
from numaplane.v1 import link_pb2


def start_request(cmd: link_pb2.StartVm) -> VmStart:
    return VmStart(
        name=cmd.name,
        vcpus=cmd.vcpus,
        memory_bytes=cmd.memory_bytes,
        nodes=tuple(cmd.nodes),
        cpus=tuple(cmd.cpus),
        strict_memory=cmd.strict_memory,
        limit_bytes=cmd.limit_bytes,
    )


def register_vm_handlers(
    executor: Executor, lifecycle: VmLifecycle, request_report: Callable[[], None]
) -> None:
    async def start_vm(cmd: link_pb2.Command) -> str:
        start = start_request(cmd.start_vm)
        if not start.name or start.vcpus < 1 or start.memory_bytes < 1:
            raise CommandFailed("StartVm needs a name, at least one vCPU and some memory")
        try:
            message = await asyncio.to_thread(lifecycle.start_vm, start)
        except BackendError as e:
            raise CommandFailed(str(e)) from None
        request_report()
        return message

    async def stop_vm(cmd: link_pb2.Command) -> str:
        if not cmd.stop_vm.name:
            raise CommandFailed("StopVm needs a name")
        try:
            message = await asyncio.to_thread(lifecycle.stop_vm, cmd.stop_vm.name)
        except BackendError as e:
            raise CommandFailed(str(e)) from None
        request_report()
        return message

    executor.register("start_vm", start_vm)
    executor.register("stop_vm", stop_vm)
