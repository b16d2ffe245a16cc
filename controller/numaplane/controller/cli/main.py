"""The `numaplane` command tree and its error policy.

    numaplane [--controller HOST:PORT] [--timeout SECONDS] [--debug]
      hosts                          vms [--host H]
      host show NAME                 vm show NAME
      host ping NAME [--wait]        events [--follow]
      host report-now NAME [--wait]  command show REQUEST_ID
      demo [--headless] [--duration S] [--hosts N] [--seed N] [--port P]
      balloon set VM SIZE [--wait]   balloon show [VM]
      balloon auto on|off [VM]       policy get | policy set KEY=VALUE...
      vm create NAME --vcpus N --memory SIZE [...] [--wait]    vm delete NAME [--wait]
      host cordon|uncordon|drain NAME                          explain vm NAME

Error policy: a failure prints ONE line, `numaplane: <what went wrong>`, on stderr.
Usage errors exit 2, operational failures (unreachable controller, unknown host or
VM, failed command) exit 1, Ctrl-C exits 130. `--debug` adds the traceback. The
policy lives in `NumaplaneGroup`, so the console script and click's test runner go
through the same code.
"""

from __future__ import annotations

import logging
import re
import sys
import traceback
from typing import Any

import click

from numaplane.controller.cli.cmd_balloon import balloon
from numaplane.controller.cli.cmd_commands import command
from numaplane.controller.cli.cmd_demo import demo
from numaplane.controller.cli.cmd_events import events
from numaplane.controller.cli.cmd_hosts import host, hosts
from numaplane.controller.cli.cmd_placement import cordon, create, delete, drain, explain, uncordon
from numaplane.controller.cli.cmd_policy import policy
from numaplane.controller.cli.cmd_rebalance import migrate, rebalance
from numaplane.controller.cli.cmd_vms import vm, vms
from numaplane.controller.cli.errors import EXIT_INTERRUPTED, EXIT_USAGE, CliError
from numaplane.controller.cli.session import CONTROLLER_ENV, DEFAULT_CONTROLLER, Session

PROG = "numaplane"

# click >= 8.2 raises it for a group called without a command; older click has none.
_NO_ARGS_IS_HELP: Any = getattr(click.exceptions, "NoArgsIsHelpError", ())

_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+):(?P<port>\d{1,5})$")


def check_address(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """HOST:PORT ([v6-address]:PORT for IPv6), or unix:PATH; a bad one is a usage error."""
    text = value.strip()
    if text.startswith("unix:") and len(text) > len("unix:"):
        return text
    m = _ADDRESS.match(text)
    if m is None or not 0 < int(m.group("port")) < 65536:
        raise click.BadParameter(f"{text!r} is not HOST:PORT (example: 127.0.0.1:7070)")
    return text


class NumaplaneGroup(click.Group):
    """A click group that reports every failure as one line (see the module docstring)."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug"))
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.Abort, click.UsageError):
            raise
        except CliError:
            if debug:
                traceback.print_exc()
            raise
        except click.ClickException:
            raise
        except Exception as e:
            if debug:
                raise
            raise CliError(
                f"internal error: {type(e).__name__}: {e} (run with --debug for the traceback)"
            ) from e

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.UsageError as e:
            if isinstance(e, _NO_ARGS_IS_HELP) and e.ctx is not None:
                # `numaplane` or `numaplane host` alone: the help is the useful answer.
                click.echo(e.ctx.get_help())
                sys.exit(EXIT_USAGE)
            hint = f" (see '{e.ctx.command_path} --help')" if e.ctx is not None else ""
            _fail(f"{e.format_message()}{hint}", e.exit_code)
        except click.ClickException as e:
            _fail(e.format_message(), e.exit_code)
        except click.Abort:
            sys.exit(EXIT_INTERRUPTED)
        sys.exit(rv if isinstance(rv, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"{PROG}: {' '.join(message.split())}", err=True)
    sys.exit(code)


@click.group(
    cls=NumaplaneGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--controller",
    envvar=CONTROLLER_ENV,
    show_envvar=True,
    default=DEFAULT_CONTROLLER,
    show_default=True,
    metavar="HOST:PORT",
    callback=check_address,
    help="Address of the controller's admin API.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    metavar="SECONDS",
    help="Deadline of each call to the controller.",
)
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs on errors.")
@click.version_option(package_name="numaplane", prog_name=PROG)
@click.pass_context
def cli(ctx: click.Context, controller: str, timeout: float, debug: bool) -> None:
    """numaplane: see and steer memory on a virtualization cluster.

    Talks to the numaplane controller's admin API: hosts with their NUMA
    topology, VMs with their memory per node and locality, cluster events, and
    commands to host agents.

    \b
    Examples:
      numaplane hosts
      numaplane host show hv-01
      numaplane vms --host hv-01 --output json
      numaplane events --follow
      numaplane --controller 10.0.0.5:7070 host ping hv-01 --wait
      NUMAPLANE_CONTROLLER=10.0.0.5:7070 numaplane vm show web-1
    """
    if debug:
        logging.basicConfig(level=logging.DEBUG, format="%(levelname)s %(name)s: %(message)s")
    session = Session(controller=controller, timeout=timeout, debug=debug)
    ctx.obj = session
    ctx.call_on_close(session.close)


for _command in (hosts, host, vms, vm, events, command, demo, balloon, policy):
    cli.add_command(_command)
cli.add_command(explain)
cli.add_command(rebalance)
vm.add_command(migrate)
for _sub in (create, delete):
    vm.add_command(_sub)
for _sub in (cordon, uncordon, drain):
    host.add_command(_sub)


def main() -> None:
    """The CLI itself; the console script `numaplane` reaches it through `launch.cli`."""
    cli.main(prog_name=PROG)
