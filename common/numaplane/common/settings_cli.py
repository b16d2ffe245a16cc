"""Click options generated from a settings dataclass, so `--help` is the dataclass's docs.

Every field becomes `--field-name VALUE` (booleans: `--field-name/--no-field-name`),
with the field's docstring and default as help. Values go through the same coercion as
the config file and the environment (numaplane.common.settings.load_settings).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from typing import Any, TypeVar

import click

from numaplane.common.settings import field_docs

F = TypeVar("F", bound=Callable[..., Any])


def settings_options(cls: type, env_prefix: str) -> Callable[[F], F]:
    docs = field_docs(cls)
    hints = typing.get_type_hints(cls)
    defaults = cls()

    def decorate(fn: F) -> F:
        for f in reversed(dataclasses.fields(cls)):
            flag = "--" + f.name.replace("_", "-")
            default = getattr(defaults, f.name)
            shown = ",".join(map(str, default)) if isinstance(default, tuple) else default
            env = env_prefix + f.name.upper()
            help_text = f"{docs.get(f.name, '')} [default: {shown}; env: {env}]"
            if hints[f.name] is bool:
                fn = click.option(
                    f"{flag}/--no-{f.name.replace('_', '-')}", f.name, default=None,
                    help=help_text,
                )(fn)
            else:
                fn = click.option(flag, f.name, default=None, metavar="VALUE",
                                  help=help_text)(fn)
        return fn

    return decorate


def flag_values(cls: type, kwargs: dict[str, Any]) -> dict[str, Any]:
    """The subset of click kwargs that are settings fields and were given."""
    names = {f.name for f in dataclasses.fields(cls)}
    return {k: v for k, v in kwargs.items() if k in names and v is not None}
