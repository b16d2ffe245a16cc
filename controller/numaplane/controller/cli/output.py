"""`--output table|json|yaml`: one option and one way to print data for machines.

Tables are for people and may change; JSON and YAML are for scripts and keep the
shapes in `numaplane.controller.cli.shapes`. Machine output goes through click.echo, never rich,
so that nothing wraps, colours or truncates it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import click
import yaml
from rich.console import Console

Format = Literal["table", "json", "yaml"]
FORMATS: tuple[Format, ...] = ("table", "json", "yaml")

F = TypeVar("F", bound=Callable[..., Any])


def output_option(fn: F) -> F:
    return click.option(
        "--output",
        "-o",
        "output",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="Output format: a table for people, JSON or YAML for scripts.",
    )(fn)


def emit(data: Any, fmt: Format) -> None:
    """Print `data` (plain lists, dicts, numbers, strings) as JSON or YAML."""
    if fmt == "json":
        click.echo(json.dumps(data, indent=2))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False), nl=False)
    else:
        raise ValueError(f"emit() does not print tables (got {fmt!r})")


def emit_line(data: Any, fmt: Format) -> None:
    """One item of a stream: a JSON line, or a YAML document."""
    if fmt == "json":
        click.echo(json.dumps(data))
    elif fmt == "yaml":
        click.echo("---\n" + yaml.safe_dump(data, sort_keys=False), nl=False)
    else:
        raise ValueError(f"emit_line() does not print tables (got {fmt!r})")


def console() -> Console:
    """A console on the current stdout (click's test runner swaps it), no guessing
    of highlights in names and numbers."""
    return Console(highlight=False)
