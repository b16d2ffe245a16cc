"""YAML that remembers where each value came from, and a strict reader of its mappings.

PyYAML's `safe_load` forgets line numbers. Here the document is composed into nodes first
and converted by hand, keeping the line of every key and list item by its path (such as
`("events", 3, "create_vm", "memory_gib")`), so that any error found later — by the
scenario parser or by the sim's host parser, which report paths — names file and line.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import yaml

PathT = tuple[str | int, ...]
T = TypeVar("T")


class ScenarioError(ValueError):
    """A scenario file that cannot be run: `file:line: reason`."""

    def __init__(self, file: str, line: int, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        super().__init__(f"{file}:{line}: {reason}" if line else f"{file}: {reason}")


@dataclass(frozen=True)
class Source:
    """A parsed document's file name and the line of every path in it."""

    file: str
    lines: Mapping[PathT, int]

    def line(self, path: PathT) -> int:
        """Line of `path`, or of its nearest ancestor that has one."""
        for end in range(len(path), -1, -1):
            if path[:end] in self.lines:
                return self.lines[path[:end]]
        return 1

    def error(self, path: PathT, reason: str) -> ScenarioError:
        return ScenarioError(self.file, self.line(path), reason)


def load_yaml(text: str, file: str) -> tuple[Any, Source]:
    """Parse one YAML document; returns plain data and the Source to locate it."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines: dict[PathT, int] = {(): 1}
        data = _convert(loader, node, (), lines, file) if node is not None else None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        raise ScenarioError(file, mark.line + 1 if mark else 1, str(e.problem)) from None
    except yaml.YAMLError as e:
        raise ScenarioError(file, 1, str(e)) from None
    finally:
        loader.dispose()
    return data, Source(file, lines)


def _convert(
    loader: yaml.SafeLoader, node: yaml.Node, path: PathT, lines: dict[PathT, int], file: str
) -> Any:
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)  # resolves `<<` merge keys
        out: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key = loader.construct_object(key_node, deep=True)
            if not isinstance(key, str | int):
                raise ScenarioError(file, key_node.start_mark.line + 1, f"bad key {key!r}")
            if key in out:
                raise ScenarioError(file, key_node.start_mark.line + 1, f"duplicate key {key!r}")
            lines[(*path, key)] = key_node.start_mark.line + 1
            out[key] = _convert(loader, value_node, (*path, key), lines, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        items = []
        for i, item in enumerate(node.value):
            lines[(*path, i)] = item.start_mark.line + 1
            items.append(_convert(loader, item, (*path, i), lines, file))
        return items
    return loader.construct_object(node, deep=True)


class Fields:
    """Reads one mapping of a scenario: typed, range-checked, and no key left unread.

    `finish()` rejects every key that no getter asked for, so a typo (`memroy_gib`) is an
    error with its line, never a silently ignored setting.
    """

    def __init__(self, data: Any, path: PathT, source: Source, what: str) -> None:
        if not isinstance(data, Mapping):
            raise source.error(path, f"{what} must be a mapping, got {data!r}")
        self.data: Mapping[str, Any] = data
        self.path = path
        self.source = source
        self.what = what
        self._read: set[str] = set()

    def error(self, key: str | None, reason: str) -> ScenarioError:
        path = self.path if key is None else (*self.path, key)
        return self.source.error(path, f"{self.what}: {reason}")

    def has(self, key: str) -> bool:
        """Whether `key` is given; asking makes it a known key of this mapping."""
        self._read.add(key)
        return key in self.data

    def raw(self, key: str) -> Any:
        self._read.add(key)
        return self.data.get(key)

    def get(self, key: str, convert: Callable[[Any], T], default: T | None = None) -> T:
        """The value at `key` through `convert` (which raises ValueError with a reason)."""
        self._read.add(key)
        if key not in self.data:
            if default is None:
                raise self.error(None, f"missing required key {key!r}")
            return default
        try:
            return convert(self.data[key])
        except (TypeError, ValueError) as e:
            raise self.error(key, f"{key}: {e}") from None

    def optional(self, key: str, convert: Callable[[Any], T]) -> T | None:
        if key not in self.data:
            self._read.add(key)
            return None
        return self.get(key, convert)

    def finish(self) -> None:
        for key in self.data:
            if key not in self._read:
                expected = ", ".join(sorted(self._read))
                raise self.error(key, f"unknown key {key!r} (expected: {expected})")


def number(
    minimum: float | None = None, *, above: float | None = None, maximum: float | None = None
) -> Callable[[Any], float]:
    """A converter to float with bounds; `above` is an exclusive lower bound."""

    def convert(value: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError(f"expected a number, got {value!r}")
        if above is not None and not value > above:
            raise ValueError(f"must be > {above:g}, got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum:g}, got {value!r}")
        if maximum is not None and value > maximum:
            raise ValueError(f"must be <= {maximum:g}, got {value!r}")
        return float(value)

    return convert


def integer(minimum: int | None = None) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
        if minimum is not None and value < minimum:
            raise ValueError(f"must be >= {minimum}, got {value}")
        return value

    return convert


def text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError(f"expected a non-empty string, got {value!r}")
    return value


def boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"expected true or false, got {value!r}")
    return value
