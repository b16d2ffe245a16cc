"""`numaplane hosts` and `numaplane host show|ping|report-now`."""

from __future__ import annotations

import click

from numaplane.controller.cli.cmd_commands import request_command
from numaplane.controller.cli.names import check_name
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.session import Session, pass_session
from numaplane.controller.cli.shapes import host_dict, vm_dict
from numaplane.controller.cli.tables import hosts_table
from numaplane.controller.cli.topology_drawing import render_host


@click.command("hosts")
@output_option
@pass_session
def hosts(session: Session, output: Format) -> None:
    """List hosts: state, NUMA nodes, CPUs, memory used/total, VMs, mean locality.

    A host is `up` while its agent holds its liveness lease, else `down`.
    Mean locality is weighted by each VM's memory.

    \b
    Examples:
      numaplane hosts
      numaplane hosts --output json | jq -r '.[] | select(.state == "down") | .name'
    """
    found = session.client.list_hosts()
    if output == "table":
        console().print(hosts_table(found))
    else:
        emit([host_dict(h) for h in found], output)


@click.group("host")
def host() -> None:
    """Show one host, or ask its agent to do something (ping, report-now).

    \b
    Examples:
      numaplane host show hv-01
      numaplane host ping hv-01 --wait
    """


@host.command("show")
@click.argument("name", callback=check_name)
@output_option
@pass_session
def show(session: Session, name: str, output: Format) -> None:
    """Draw a host's NUMA topology: nodes, CPUs, memory by VM, distances.

    Each node shows its online and offline CPUs and a memory bar split by VM
    (one letter and colour per VM), memory used by anything else, and free
    memory; then the node distance matrix and the host's VMs.

    \b
    Examples:
      numaplane host show hv-01
      numaplane host show hv-01 --output yaml
    """
    found = session.client.get_host(name)
    vms = session.client.list_vms(host=name)
    if output == "table":
        out = console()
        out.print(render_host(found, vms, out.width))
    else:
        emit({**host_dict(found), "vms": [vm_dict(v) for v in vms]}, output)


_WAIT_OPTIONS = (
    click.option(
        "--wait",
        is_flag=True,
        help="Wait until the agent has applied (or failed) the command; exit 1 if it failed.",
    ),
    click.option(
        "--wait-timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=30.0,
        show_default=True,
        metavar="SECONDS",
        help="With --wait: give up after this long (exit 1).",
    ),
)


@host.command("ping")
@click.argument("name", callback=check_name)
@click.option("--payload", default="", metavar="TEXT", help="Text the agent echoes back.")
@_WAIT_OPTIONS[0]
@_WAIT_OPTIONS[1]
@pass_session
def ping(session: Session, name: str, payload: str, wait: bool, wait_timeout: float) -> None:
    """Ask a host's agent to answer a ping, through the command journal.

    The controller records the request; its leader journals the command and
    sends it down the agent's stream (after the agent reconnects, if it is
    down). Prints the request id; `numaplane command show ID` tells its state.

    \b
    Examples:
      numaplane host ping hv-01
      numaplane host ping hv-01 --wait --wait-timeout 10
    """
    request_command(session, name, "ping", payload, wait=wait, wait_timeout=wait_timeout)


@host.command("report-now")
@click.argument("name", callback=check_name)
@_WAIT_OPTIONS[0]
@_WAIT_OPTIONS[1]
@pass_session
def report_now(session: Session, name: str, wait: bool, wait_timeout: float) -> None:
    """Ask a host's agent to send a report now instead of at its next interval.

    \b
    Examples:
      numaplane host report-now hv-01
      numaplane host report-now hv-01 --wait && numaplane host show hv-01
    """
    request_command(session, name, "report-now", "", wait=wait, wait_timeout=wait_timeout)
