"""Client-side checks of names given on the command line (a bad one is a usage error).

Host and VM names become etcd key segments (numaplane.controller.state.keyspace.valid_name);
catching a bad one here gives exit code 2 and names the argument, before any call is made.
"""

from __future__ import annotations

import click

from numaplane.controller.state import keyspace


def check_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    if value is None or keyspace.valid_name(value):
        return value
    raise click.BadParameter(
        f"{value!r} is not a valid name (letters, digits, '.', '_' and '-', "
        "starting with a letter or digit, at most 128 characters)"
    )
