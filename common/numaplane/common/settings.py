"""Load a settings dataclass: defaults, then a TOML config file, then environment, then flags.

Each settings class is a frozen dataclass whose fields carry an attribute docstring
(a string literal right under the field). `field_docs` reads those docstrings back
from the source so that `--help` and the README tell the same story as the code.
"""

from __future__ import annotations

import ast
import dataclasses
import inspect
import itertools
import os
import textwrap
import tomllib
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting with a bad name or value; the message names the source and the field."""


def field_docs(cls: type) -> dict[str, str]:
    """Attribute docstrings of a dataclass, by field name."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(cls)))
    except (OSError, TypeError):
        return {}
    docs: dict[str, str] = {}
    body = tree.body[0].body if tree.body and isinstance(tree.body[0], ast.ClassDef) else []
    for stmt, nxt in itertools.pairwise(body):
        if (
            isinstance(stmt, ast.AnnAssign)
            and isinstance(stmt.target, ast.Name)
            and isinstance(nxt, ast.Expr)
            and isinstance(nxt.value, ast.Constant)
            and isinstance(nxt.value.value, str)
        ):
            docs[stmt.target.id] = " ".join(nxt.value.value.split())
    return docs


def _coerce(value: Any, tp: Any, where: str) -> Any:
    """Convert a config/env/flag value to the field's declared type."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        non_none = [a for a in args if a is not type(None)]
        is_none = value is None or (
            isinstance(value, str) and value.lower() in ("", "none", "null")
        )
        if is_none and type(None) in args:
            return None
        return _coerce(value, non_none[0], where)
    if origin is tuple:
        items = value.split(",") if isinstance(value, str) else list(value)
        items = [i.strip() if isinstance(i, str) else i for i in items if i != ""]
        inner = args[0] if args else str
        return tuple(_coerce(i, inner, where) for i in items)
    if tp is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("1", "true", "yes", "on"):
            return True
        if text in ("0", "false", "no", "off"):
            return False
        raise SettingsError(f"{where}: expected true/false, got {value!r}")
    if tp in (int, float):
        # TOML values arrive typed: a bool is not a number, and 2.5 for an int is a
        # mistake to report, not to truncate.
        if isinstance(value, bool) or (
            tp is int and isinstance(value, float) and not value.is_integer()
        ):
            raise SettingsError(f"{where}: expected {tp.__name__}, got {value!r}")
        try:
            return tp(value)
        except (TypeError, ValueError):
            raise SettingsError(f"{where}: expected {tp.__name__}, got {value!r}") from None
    if tp is Path:
        return Path(value)
    if tp is str:
        return str(value)
    return value


def _apply(obj: T, values: Mapping[str, Any], source: str) -> T:
    hints = typing.get_type_hints(type(obj))
    names = {f.name for f in dataclasses.fields(obj)}  # type: ignore[arg-type]
    changes = {}
    for key, raw in values.items():
        name = key.replace("-", "_")
        if name not in names:
            raise SettingsError(f"{source}: unknown setting {key!r}")
        changes[name] = _coerce(raw, hints[name], f"{source}: {key}")
    return dataclasses.replace(obj, **changes)  # type: ignore[type-var]


def load_settings(
    cls: type[T],
    *,
    config_file: Path | None = None,
    env_prefix: str,
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> T:
    """Build `cls` from defaults, then the file, the environment, then `flags` (None = unset)."""
    settings = cls()
    if config_file is not None:
        try:
            data = tomllib.loads(config_file.read_text())
        except FileNotFoundError:
            raise SettingsError(f"config file {config_file} does not exist") from None
        except tomllib.TOMLDecodeError as e:
            raise SettingsError(f"config file {config_file}: {e}") from None
        settings = _apply(settings, data, str(config_file))
    env = os.environ if environ is None else environ
    names = {f.name for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
    ours = {k: v for k, v in env.items() if k.startswith(env_prefix)}
    unknown = sorted(k for k in ours if k[len(env_prefix) :].lower() not in names)
    if unknown:
        # A misspelled variable silently ignored is a setting the operator thinks is on.
        raise SettingsError(f"environment: unknown setting {unknown[0]}")
    from_env = {k[len(env_prefix) :].lower(): v for k, v in ours.items()}
    settings = _apply(settings, from_env, "environment")
    if flags:
        settings = _apply(settings, {k: v for k, v in flags.items() if v is not None}, "flag")
    return settings
