"""Requesting commands, waiting for them, and `numaplane command show`.

Waiting is polling GetCommand: a command request passes through the leader and the
journal (requested -> pending -> sent -> applied|failed), and each state is already
in etcd, so a short poll is simpler than a stream and loses nothing.
"""

from __future__ import annotations

import time

import click
from rich.table import Table

from numaplane.controller.cli.errors import CliError
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.session import Session, pass_session
from numaplane.controller.cli.shapes import command_dict

FINISHED = frozenset({"applied", "failed"})
POLL_INTERVAL_S = 0.2

_STUCK_HINTS = {
    "requested": "is a controller leader running?",
    "pending": "is the host's agent connected? the command is sent when it reconnects",
    "sent": "the agent has not answered yet",
}


def request_command(
    session: Session, host: str, kind: str, payload: str, *, wait: bool, wait_timeout: float
) -> None:
    request_id = session.client.request_command(host, kind, payload)
    click.echo(f"requested {kind} on host {host} (request {request_id})")
    if not wait:
        return
    deadline = time.monotonic() + wait_timeout
    record = session.client.get_command(request_id)
    while record.state not in FINISHED:
        if time.monotonic() >= deadline:
            raise CliError(
                f"{kind} on host {host} is still {record.state} after {wait_timeout:g}s "
                f"(request {request_id}); {_STUCK_HINTS.get(record.state, '')}".rstrip("; ")
            )
        time.sleep(POLL_INTERVAL_S)
        record = session.client.get_command(request_id)
    detail = f": {record.message}" if record.message else ""
    if record.state == "failed":
        raise CliError(f"{kind} on host {host} failed{detail}")
    click.echo(f"{kind} on host {host}: {record.state}{detail}")


@click.group("command")
def command() -> None:
    """Follow commands requested with `numaplane host ping|report-now`.

    \b
    Example:
      numaplane command show 3f0c9a4e5d7b4c2a9e1f0b6d8c7a5e43
    """


@command.command("show")
@click.argument("request_id", metavar="REQUEST_ID")
@output_option
@pass_session
def show(session: Session, request_id: str, output: Format) -> None:
    """Show a command request and, once journaled, its command's state.

    States: requested (not journaled yet), pending, sent, applied, failed.

    \b
    Examples:
      numaplane command show 3f0c9a4e5d7b4c2a9e1f0b6d8c7a5e43
      numaplane command show 3f0c9a4e5d7b4c2a9e1f0b6d8c7a5e43 -o json
    """
    record = session.client.get_command(request_id)
    if output != "table":
        emit(command_dict(record), output)
        return
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold")
    grid.add_column()
    for label, value in (
        ("Request", record.request_id),
        ("Command", record.command_id or "-"),
        ("Host", record.host),
        ("Kind", record.kind),
        ("State", record.state),
        ("Epoch", str(record.epoch) if record.epoch else "-"),
        ("Message", record.message or "-"),
    ):
        grid.add_row(label, value)
    console().print(grid)
