"""The MigrateMemory, SetVcpuAffinity and LiveMigrate command handlers, over a `Mover`.

The host driver brings the mover (linux: move_pages on the VM's process; sim: the
simulator's migration at the command's rate, and live migration within a `SimFabric`;
libvirt: live numatune, vCPU pins and libvirt's migrate API). A driver with no mover
(qmp, which drives balloons only) gets none of these commands, and its Hello does not
list them.

The two long kinds go through `LongCommands` (applied once across restarts, progress
reported); SetVcpuAffinity is one quick call in a worker thread. Every handler asks for
a report when done, so the controller sees the new locality at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from numaplane.hostagent.commands.executor import CommandFailed, Executor
from numaplane.hostagent.commands.long_commands import LongCommands
from numaplane.hostagent.drivers.contract import MoveError, Mover
from numaplane.v1 import link_pb2


def register_move_handlers(
    executor: Executor,
    mover: Mover,
    long_commands: LongCommands,
    request_report: Callable[[], None],
) -> None:
    async def migrate_memory(cmd: link_pb2.Command) -> str:
        m = cmd.migrate_memory
        if not m.vm or not m.to_nodes:
            raise CommandFailed("MigrateMemory needs a VM and at least one target node")
        return await long_commands.run(cmd)

    async def set_vcpu_affinity(cmd: link_pb2.Command) -> str:
        a = cmd.set_vcpu_affinity
        if not a.vm or not a.cpus:
            raise CommandFailed("SetVcpuAffinity needs a VM and at least one CPU")
        try:
            message = await asyncio.to_thread(mover.set_vcpu_affinity, a.vm, tuple(a.cpus))
        except MoveError as e:
            raise CommandFailed(str(e)) from None
        request_report()
        return message

    async def live_migrate(cmd: link_pb2.Command) -> str:
        lm = cmd.live_migrate
        if not lm.vm or not lm.target_host:
            raise CommandFailed("LiveMigrate needs a VM and a target host")
        return await long_commands.run(cmd)

    executor.register("migrate_memory", migrate_memory)
    executor.register("set_vcpu_affinity", set_vcpu_affinity)
    if mover.can_live_migrate:
        executor.register("live_migrate", live_migrate)
