"""Command-line value types: memory sizes and node lists, refused with one clear line.

A bad value is a usage error (exit 2) raised before any call is made, so a mistyped
`--memory 4Q` can never store anything.
"""

from __future__ import annotations

from typing import Any

import click

from numaplane.common.units import SizeError, parse_size


class SizeType(click.ParamType[int]):
    """512M, 4G, 4GiB, 1.5T or plain bytes (numaplane.common.units.parse_size); more than zero."""

    name = "SIZE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except SizeError as e:
            self.fail(str(e), param, ctx)


class NodeListType(click.ParamType[tuple[int, ...]]):
    """NUMA node ids, comma-separated ("0,1"); no duplicates."""

    name = "NODES"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> tuple[int, ...]:
        if isinstance(value, tuple):
            return value
        nodes: list[int] = []
        for part in str(value).split(","):
            text = part.strip()
            if not text.isdigit():
                self.fail(f"{value!r} is not a list of node ids (example: 0,1)", param, ctx)
            node = int(text)
            if node in nodes:
                self.fail(f"node {node} is given twice in {value!r}", param, ctx)
            nodes.append(node)
        return tuple(nodes)


SIZE = SizeType()
NODE_LIST = NodeListType()
