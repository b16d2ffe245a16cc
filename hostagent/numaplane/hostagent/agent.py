"""One host agent: a host driver, the command executor and the link, with one owner.

The driver (`numaplane.hostagent.drivers.registry`) says what this host can do; the
agent registers exactly the command handlers for those parts, so its Hello lists the
command kinds it really applies. `Agent.run()` holds the link until cancelled; the
driver is closed on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from numaplane.common.extras import require_extra
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.balloon import SetBalloonHandler
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.commands.long_commands import LongCommands
from numaplane.hostagent.commands.moves import register_move_handlers
from numaplane.hostagent.commands.vm import register_vm_handlers
from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.drivers.registry import open_driver
from numaplane.hostagent.link import AgentLink
from numaplane.hostagent.settings import AgentSettings

log = logging.getLogger(__name__)


class Agent:
    def __init__(self, settings: AgentSettings, driver: HostDriver | None = None) -> None:
        self.settings = settings
        self.driver = driver or open_driver(settings)
        self.backend = self.driver.backend
        path = settings.state_dir / "applied-commands.jsonl" if settings.state_dir else None
        self.applied = AppliedLog(path)
        self.executor = Executor(self.applied, self._request_report)
        if self.driver.lifecycle is not None:
            register_vm_handlers(self.executor, self.driver.lifecycle, self._request_report)
        if self.driver.balloons:
            self.executor.register(
                "set_balloon", SetBalloonHandler(self.backend, self._request_report)
            )
        self.link = AgentLink(settings, self.backend, self.executor)
        self.long_commands: LongCommands | None = None
        mover = self.driver.mover
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
            require_extra("monitor", what="the agent's --monitor")
            from numaplane.hostagent.monitoring import start_agent_monitor

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
            await asyncio.to_thread(self.driver.close)
