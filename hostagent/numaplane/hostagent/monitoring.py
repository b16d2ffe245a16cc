"""aiomonitor for the agent: off by default, loopback only, one extra command.

`last-report` shows the agent's link state and its last report. aiomonitor's console is
an unauthenticated Python REPL, so it never binds beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import aiomonitor
import click
from aiomonitor.termui.commands import auto_command_done, custom_help_option, print_ok

if TYPE_CHECKING:
    from numaplane.hostagent.agent import Agent


@aiomonitor.monitor_cli.command(name="last-report")
@custom_help_option
@auto_command_done
def do_last_report(ctx: click.Context) -> None:
    """This agent's link state and its last report"""
    agent: Agent = ctx.obj.console_locals["agent"]
    st = agent.link.status
    ago = f"{time.time() - st.last_report_at:.1f} s ago" if st.last_report_at else "never"
    print_ok(
        f"host {agent.settings.host} -> {agent.settings.controller}: "
        f"{'connected to ' + st.controller_id if st.connected else 'disconnected'}\n"
        f"last report #{st.last_report_sequence} {ago}, {st.last_report_vms} VMs, "
        f"{st.last_report_vcpu_samples} vCPU samples; "
        f"sessions {st.sessions}; last error: {st.last_error or '-'}"
    )


def start_agent_monitor(agent: Agent, port: int) -> Any:
    """Start aiomonitor on 127.0.0.1:port (web UI port+1, console port+2)."""
    return aiomonitor.start_monitor(
        asyncio.get_running_loop(), host="127.0.0.1", port=port, webui_port=port + 1,
        console_port=port + 2, locals={"agent": agent},
    )
