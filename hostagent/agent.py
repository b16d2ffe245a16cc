"""One host agent: a backend, the command executor and the link, with one owner.

`Agent.run()` holds the link until cancelled; the backend is closed on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from hostagent.applied_log import AppliedLog
from hostagent.backends.base import Backend
from hostagent.balloon.command import SetBalloonHandler
from hostagent.executor import Executor
from hostagent.link import AgentLink
from hostagent.long_commands import LongCommands
from hostagent.move_handlers import mover_for, register_move_handlers
from hostagent.settings import AgentSettings
from hostagent.vm_handlers import register_vm_handlers, vm_lifecycle

log = logging.getLogger(__name__)


def make_backend(settings: AgentSettings) -> Backend:
    """The backend the settings name; a clear error for an unknown one."""
    if settings.backend == "sim":
        from hostagent.backends.sim_factory import sim_backend_from_settings

        return sim_backend_from_settings(settings)
    if settings.backend == "linux":
        from hostagent.backends.linux import LinuxBackend

        return LinuxBackend(
            sysfs_root=settings.sysfs_root,
            proc_root=settings.proc_root,
            vm_comm_pattern=settings.vm_process_pattern,
        )
    if settings.backend == "libvirt":
        from hostagent.backends.libvirt_backend import LibvirtBackend

        return LibvirtBackend(
            settings.libvirt_uri,
            balloon_stats_period_s=settings.balloon_stats_period_s,
            qemu_pid_dir=settings.libvirt_qemu_pid_dir,
        )
    if settings.backend == "qmp":
        from hostagent.backends.qmp import QmpBackend, parse_qmp_sockets

        return QmpBackend(
            parse_qmp_sockets(settings.qmp_sockets),
            sysfs_root=settings.sysfs_root,
            stats_period_s=settings.balloon_stats_period_s,
        )
    raise ValueError(f"unknown backend {settings.backend!r} (choose sim, linux, libvirt or qmp)")


class Agent:
    def __init__(self, settings: AgentSettings, backend: Backend | None = None) -> None:
        self.settings = settings
        self.backend = backend or make_backend(settings)
        path = settings.state_dir / "applied-commands.jsonl" if settings.state_dir else None
        self.applied = AppliedLog(path)
        self.executor = Executor(self.applied, self._request_report)
        lifecycle = vm_lifecycle(self.backend)
        if lifecycle is not None:
            register_vm_handlers(self.executor, lifecycle, self._request_report)
        if self.backend.capabilities().balloon:
            self.executor.register(
                "set_balloon", SetBalloonHandler(self.backend, self._request_report)
            )
        self.link = AgentLink(settings, self.backend, self.executor)
        self.long_commands: LongCommands | None = None
        mover = mover_for(self.backend)
        if mover is not None:
            self.long_commands = LongCommands(
                mover,
                settings.state_dir,
                send_progress=self.link.report_progress,
                request_report=self._request_report,
                max_epoch=lambda: self.applied.max_epoch,
            )
            register_move_handlers(self.executor, mover, self.long_commands, self._request_report)
            self.executor.on_recorded(self.long_commands.forget)

    def _request_report(self) -> None:
        self.link.request_report()

    async def run(self) -> None:
        monitor = None
        if self.settings.monitor:
            from hostagent.monitoring import start_agent_monitor

            monitor = start_agent_monitor(self, self.settings.monitor_port)
        if self.long_commands is not None:
            # Migrations a restart interrupted carry on before the controller re-sends them.
            self.long_commands.resume(lambda command_id: self.applied.get(command_id) is not None)
        try:
            await self.link.run()
        finally:
            if self.long_commands is not None:
                await self.long_commands.close()
            if monitor is not None:
                with contextlib.suppress(Exception):
                    monitor.close()
            await asyncio.to_thread(self.backend.close)
