"""`numaplane rebalance --dry-run | now` and `numaplane vm migrate VM --nodes N | --host H`.

`rebalance --dry-run` prints the moves a pass would make now, each with its reason;
`rebalance now` asks the leader to run a pass at once (even with periodic rebalancing
off) and prints the same preview. `vm migrate` is an operator's move, checked by the
controller before it is recorded; `--wait` follows it through the journal, with the
migration's progress, until the agent applied it or it failed.
"""

from __future__ import annotations

import time
from typing import Any

import click
from rich.table import Table

from numaplane.common.units import format_size
from numaplane.controller.cli.errors import CliError
from numaplane.controller.cli.names import check_name
from numaplane.controller.cli.output import Format, console, emit, output_option
from numaplane.controller.cli.session import Session, pass_session
from numaplane.v1.admin_pb2 import PlannedMove, RebalanceResponse

FINISHED = frozenset({"applied", "failed"})
POLL_INTERVAL_S = 0.2


def move_dict(m: PlannedMove) -> dict[str, Any]:
    return {
        "vm": m.vm,
        "host": m.host,
        "kind": m.kind,
        "to_nodes": list(m.to_nodes),
        "to_host": m.to_host or None,
        "bytes": m.bytes,
        "reason": m.reason,
    }


def moves_table(moves: list[PlannedMove]) -> Table:
    table = Table(box=None, pad_edge=False)
    for name in ("VM", "HOST", "MOVE", "TO", "COPY", "REASON"):
        right = name == "COPY"
        table.add_column(name, no_wrap=name != "REASON", justify="right" if right else "left")
    for m in moves:
        nodes = ",".join(map(str, m.to_nodes))
        to = f"{m.to_host} nodes {nodes}" if m.to_host else f"nodes {nodes}"
        table.add_row(m.vm, m.host, m.kind, to, format_size(m.bytes) if m.bytes else "-", m.reason)
    return table


def show(response: RebalanceResponse, output: Format) -> None:
    if output != "table":
        emit({"message": response.message, "moves": [move_dict(m) for m in response.moves]}, output)
        return
    if response.moves:
        console().print(moves_table(list(response.moves)))
    click.echo(response.message)


@click.group("rebalance", invoke_without_command=True)
@click.option("--dry-run", is_flag=True, help="Print the moves a pass would make; change nothing.")
@output_option
@click.pass_context
def rebalance(ctx: click.Context, dry_run: bool, output: Format) -> None:
    """Rebalance NUMA memory: see the plan (--dry-run), or run a pass now.

    The leader rebalances every period by itself when `rebalance.enabled` is on (the
    default; `numaplane policy set rebalance.enabled=false` turns it off). Each move
    says why: locality under the threshold, a node out of balance, or a host short of
    memory that ballooning cannot free within reservations.

    \b
    Examples:
      numaplane rebalance --dry-run
      numaplane rebalance now
    """
    if ctx.invoked_subcommand is not None:
        return
    if not dry_run:
        raise click.UsageError("give --dry-run to see the plan, or run `numaplane rebalance now`")
    session = ctx.find_object(Session)
    assert session is not None
    show(session.client.rebalance(dry_run=True), output)


@rebalance.command("now")
@output_option
@pass_session
def now(session: Session, output: Format) -> None:
    """Ask the leader to run a rebalancing pass at once (and print its preview)."""
    show(session.client.rebalance(dry_run=False), output)


def _nodes(ctx: click.Context, param: click.Parameter, value: str | None) -> tuple[int, ...]:
    if value is None:
        return ()
    try:
        nodes = tuple(int(part) for part in value.split(",") if part.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a list of node ids (example: 0,1)") from None
    if not nodes or any(n < 0 for n in nodes):
        raise click.BadParameter(f"{value!r} is not a list of node ids (example: 0,1)")
    return nodes


@click.command("migrate")
@click.argument("name", callback=check_name)
@click.option(
    "--nodes",
    callback=_nodes,
    metavar="N[,N...]",
    help="Move its memory and vCPUs to these NUMA nodes of its host.",
)
@click.option(
    "--host", "to_host", callback=check_name, metavar="HOST", help="Live-migrate it to this host."
)
@click.option("--wait", is_flag=True, help="Wait until the move is applied (or failed).")
@click.option(
    "--wait-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=600.0,
    show_default=True,
    metavar="SECONDS",
    help="With --wait: give up after this long.",
)
@pass_session
def migrate(
    session: Session,
    name: str,
    nodes: tuple[int, ...],
    to_host: str | None,
    wait: bool,
    wait_timeout: float,
) -> None:
    """Move a VM: its memory to other NUMA nodes, or the whole VM to another host.

    \b
    Examples:
      numaplane vm migrate web-1 --nodes 1
      numaplane vm migrate web-1 --nodes 2,3 --wait
      numaplane vm migrate web-1 --host hv-02
    """
    if bool(nodes) == bool(to_host):
        raise click.UsageError("give exactly one of --nodes and --host")
    response = session.client.migrate_vm(name, nodes=nodes, host=to_host or "")
    click.echo(f"{response.message} (request {response.request_id})")
    if wait:
        _wait(session, response.request_id, name, wait_timeout)


def _wait(session: Session, request_id: str, vm: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = ""
    record = session.client.get_command(request_id)
    while record.state not in FINISHED:
        if time.monotonic() >= deadline:
            raise CliError(
                f"the move of {vm} is still {record.state} after {timeout:g}s "
                f"(request {request_id})"
            )
        line = f"{record.state}" + (f" {record.progress:.0%}" if record.progress else "")
        if line != last:
            click.echo(f"  {line}", err=True)
            last = line
        time.sleep(POLL_INTERVAL_S)
        record = session.client.get_command(request_id)
    if record.state == "failed":
        raise CliError(f"the move of {vm} failed: {record.message}")
    click.echo(f"the move of {vm} was applied: {record.message}")
