"""`numaplane events`: the cluster's events, the current state first."""

from __future__ import annotations

import click

from numaplane.controller.cli.output import Format, console, emit, emit_line, output_option
from numaplane.controller.cli.session import Session, pass_session
from numaplane.controller.cli.shapes import event_dict
from numaplane.controller.cli.tables import event_line


@click.command("events")
@click.option(
    "--follow", "-f", is_flag=True, help="Keep printing events as they happen, until Ctrl-C."
)
@click.option(
    "--only-new",
    is_flag=True,
    help="With --follow: skip the current state, print only what happens next.",
)
@output_option
@pass_session
def events(session: Session, follow: bool, only_new: bool, output: Format) -> None:
    """Print cluster events: hosts up/down, VMs appearing, commands sent/applied.

    Without --follow, prints the current state as events (each host up or down,
    each VM, each journaled command) and exits. With --follow, keeps going;
    --output json then prints one JSON object per line and --output yaml one
    document per event.

    \b
    Kinds: host-up host-down host-updated vm-appeared vm-updated vm-gone
           command-pending command-sent command-applied command-failed

    \b
    Examples:
      numaplane events
      numaplane events --follow
      numaplane events --follow --only-new --output json | jq -c 'select(.kind == "host-down")'
    """
    if only_new and not follow:
        raise click.UsageError("--only-new needs --follow")
    stream = session.client.events(include_existing=not only_new, follow=follow)
    if output == "table":
        out = console()
        for event in stream:
            out.print(event_line(event), soft_wrap=True)
    elif follow:
        for event in stream:
            emit_line(event_dict(event), output)
    else:
        emit([event_dict(e) for e in stream], output)
