"""`numaplane balloon set|show|auto`: one balloon API whatever the hypervisor.

`set` records the operator's target (refused below the VM's reservation, above its
limit or maximum, or for a VM without a balloon driver) and turns the VM's auto off;
the leader journals a SetBalloon command and the host's agent applies it once. `--wait`
polls until that command has finished, as `host ping --wait` does.
"""

from __future__ import annotations

import time

import click

from numaplane.common.units import SizeError, parse_size
from numaplane.controller.cli.balloon_shapes import balloon_detail, balloon_dict, balloons_table
from numaplane.controller.cli.errors import CliError
from numaplane.controller.cli.fmt import format_size
from numaplane.controller.cli.names import check_name
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.session import Session, pass_session

POLL_INTERVAL_S = 0.2
FINISHED = frozenset({"applied", "failed"})


def _size(ctx: click.Context, param: click.Parameter, value: str) -> int:
    try:
        return parse_size(value)
    except SizeError as e:
        raise click.BadParameter(str(e)) from None


@click.group("balloon")
def balloon() -> None:
    """Set, show and automate VM memory balloons (libvirt, QEMU, simulator alike).

    \b
    Examples:
      numaplane balloon show
      numaplane balloon set web-1 3G --wait
      numaplane balloon auto on web-1
      numaplane balloon auto off            # the cluster-wide switch
    """


@balloon.command("set")
@click.argument("vm", callback=check_name)
@click.argument("size", callback=_size, metavar="SIZE")
@click.option("--wait", is_flag=True, help="Wait until the agent has applied the target.")
@click.option("--wait-timeout", type=click.FloatRange(min=0, min_open=True), default=30.0,
              show_default=True, metavar="SECONDS", help="How long --wait waits.")
@pass_session
def set_(session: Session, vm: str, size: int, wait: bool, wait_timeout: float) -> None:
    """Set a VM's balloon target to SIZE (4G, 3584M, bytes); turns its auto off.

    Refused when SIZE is below the VM's reservation, above its limit or its maximum
    memory, or when the VM's driver has no balloon.
    """
    click.echo(session.client.set_balloon(vm, size))
    if wait:
        _wait(session, vm, size, wait_timeout)


def _wait(session: Session, vm: str, size: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        (row,) = session.client.list_balloons(vm)
        mine = row.command_target_bytes == size
        if mine and row.command_state == "failed":
            raise CliError(f"balloon of {vm}: setting {format_size(size)} failed: "
                           f"{row.command_message or 'no reason given'}")
        if mine and row.command_state == "applied":
            click.echo(f"balloon of {vm}: {format_size(size)} applied on {row.host}"
                       + (f" ({row.command_message})" if row.command_message else ""))
            return
        settled = not row.command_state or row.command_state in FINISHED
        if not mine and settled and row.state.target_bytes == size:
            # Nothing to send: the balloon was already there.
            click.echo(f"balloon of {vm}: already at {format_size(size)}")
            return
        if time.monotonic() >= deadline:
            where = row.command_state if mine else "not yet journaled"
            raise CliError(
                f"balloon of {vm}: {format_size(size)} still {where} after {timeout:g}s "
                "(is a controller leader running and the host's agent connected?)"
            )
        time.sleep(POLL_INTERVAL_S)


@balloon.command("show")
@click.argument("vm", required=False, callback=check_name)
@output_option
@pass_session
def show(session: Session, vm: str | None, output: Format) -> None:
    """Show balloons: target, actual, guest free/available, swap, bounds, auto, driver.

    Without VM, every VM with an observed status.

    \b
    Examples:
      numaplane balloon show
      numaplane balloon show web-1 -o json
    """
    rows = session.client.list_balloons(vm or "")
    if output == "table":
        console().print(balloon_detail(rows[0]) if vm else balloons_table(rows))
    else:
        data = [balloon_dict(r) for r in rows]
        emit(data[0] if vm else data, output)


@balloon.command("auto")
@click.argument("state", type=click.Choice(["on", "off"]))
@click.argument("vm", required=False, callback=check_name)
@pass_session
def auto(session: Session, state: str, vm: str | None) -> None:
    """Let the balloon policy move VM's balloon (on) or not (off); without VM, the
    cluster-wide switch.

    Turning a VM's auto on drops its manual target; `balloon set` turns it off.
    """
    click.echo(session.client.set_balloon_auto(vm or "", state == "on"))
