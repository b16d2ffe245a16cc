"""The kernel's CPU (and node) list syntax: "0-3,8-11", "0", or empty.

The same syntax appears in `node*/cpulist`, `cpu/online`, `node/online`, `has_memory`
and `Cpus_allowed_list` in /proc/<pid>/status, so it is parsed in one place.
Strides ("0-15:2/4", accepted by the kernel on input) never appear in these files and
are rejected so that a surprising file is noticed instead of half-read.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

_RANGE = re.compile(r"^(\d+)(?:-(\d+))?$")


class CpuListError(ValueError):
    """Text that is not a list of ids in the kernel's range syntax."""


def parse_cpulist(text: str) -> frozenset[int]:
    """Ids in `text` ("0-3,8-11" -> {0,1,2,3,8,9,10,11}); empty text is the empty set."""
    text = text.strip()
    if not text:
        return frozenset()
    ids: set[int] = set()
    for part in text.split(","):
        m = _RANGE.match(part.strip())
        if m is None:
            raise CpuListError(f"cannot parse {part!r} in list {text!r}")
        first = int(m.group(1))
        last = int(m.group(2)) if m.group(2) is not None else first
        if last < first:
            raise CpuListError(f"range {part!r} in list {text!r} runs backwards")
        ids.update(range(first, last + 1))
    return frozenset(ids)


def format_cpulist(ids: Iterable[int]) -> str:
    """The inverse of `parse_cpulist`: sorted ids as the kernel prints them ("0-3,8")."""
    ordered = sorted(set(ids))
    parts: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        parts.append(str(ordered[i]) if i == j else f"{ordered[i]}-{ordered[j]}")
        i = j + 1
    return ",".join(parts)
