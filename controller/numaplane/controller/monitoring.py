"""aiomonitor for the controller: off by default, loopback only, one extra command.

`agents` lists the agent streams this replica holds and when each last reported.
aiomonitor's console is an unauthenticated Python REPL, so it never binds beyond
127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiomonitor
import click
from aiomonitor.termui.commands import auto_command_done, custom_help_option, print_ok

if TYPE_CHECKING:
    from numaplane.controller.server import Controller


@aiomonitor.monitor_cli.command(name="agents")
@custom_help_option
@auto_command_done
def do_agents(ctx: click.Context) -> None:
    """Agents connected to this replica and their last report time"""
    controller: Controller = ctx.obj.console_locals["controller"]
    now = time.time()
    sessions = controller.sessions.all()
    lines = [f"{'host':<24} {'reports':>8} {'last report':>14}  connected"]
    for s in sorted(sessions, key=lambda s: s.host):
        ago = f"{now - s.last_report_at:.1f} s ago" if s.last_report_at else "never"
        lines.append(f"{s.host:<24} {s.reports:>8} {ago:>14}  {now - s.connected_at:.0f} s")
    lines.append(f"{len(sessions)} agent(s); leader: {controller.election.is_leader} "
                 f"(epoch {controller.election.epoch})")
    print_ok("\n".join(lines))


def start_controller_monitor(controller: Controller, port: int) -> Any:
    """Start aiomonitor on 127.0.0.1:port (web UI port+1, console port+2)."""
    return aiomonitor.start_monitor(
        asyncio.get_running_loop(), host="127.0.0.1", port=port, webui_port=port + 1,
        console_port=port + 2, locals={"controller": controller},
    )
