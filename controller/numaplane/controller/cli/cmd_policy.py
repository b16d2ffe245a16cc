"""`numaplane policy get|set`: the cluster-wide policy knobs, changeable at run time.

`set` takes KEY=VALUE pairs (`balloon.relief_free_fraction=0.35`,
`balloon.max_step_bytes=1G`, `default_placement=xen`); the controller validates the
resulting policy as a whole and refuses the lot if any value is bad, keeping the old
policy. `get` prints every knob as KEY VALUE lines, or the JSON/YAML document.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import click

from numaplane.controller.cli.output import Format, emit, output_option
from numaplane.controller.cli.session import Session, pass_session


def flatten(doc: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, Any]]:
    for key in sorted(doc):
        value = doc[key]
        if isinstance(value, dict):
            yield from flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _print(policy_json: str, output: Format) -> None:
    doc = json.loads(policy_json)
    if output != "table":
        emit(doc, output)
        return
    pairs = list(flatten(doc))
    width = max((len(k) for k, _ in pairs), default=0)
    for key, value in pairs:
        shown = str(value).lower() if isinstance(value, bool) else value
        click.echo(f"{key:<{width}}  {shown}")


@click.group("policy")
def policy() -> None:
    """Show or change the cluster-wide policy knobs (placement, balloon, rebalance).

    \b
    Examples:
      numaplane policy get
      numaplane policy set balloon.pressure_free_fraction=0.15 balloon.max_step_bytes=1G
    """


@policy.command("get")
@output_option
@pass_session
def get(session: Session, output: Format) -> None:
    """Print the policy: one KEY VALUE line per knob (or JSON/YAML)."""
    _print(session.client.get_policy(), output)


def _pairs(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise click.BadParameter(f"{item!r} is not KEY=VALUE")
        if key.strip() in out:
            raise click.BadParameter(f"{key.strip()!r} is given twice")
        out[key.strip()] = value.strip()
    return out


@policy.command("set")
@click.argument("pairs", nargs=-1, required=True, callback=_pairs, metavar="KEY=VALUE...")
@output_option
@pass_session
def set_(session: Session, pairs: dict[str, str], output: Format) -> None:
    """Change knobs; all pairs are validated together, and a bad one changes nothing."""
    new = session.client.set_policy(pairs)
    click.echo("policy updated: " + " ".join(f"{k}={v}" for k, v in pairs.items()), err=True)
    _print(new, output)
