"""The guest name in a QEMU command line: `-name guest=NAME,...` or `-name NAME,...`.

QEMU's option syntax separates `key=value` parts with commas and writes a literal comma
as ",,". The first part may omit its key, which for `-name` is `guest`. libvirt starts
QEMU with `-name guest=<domain>,debug-threads=on`; the latter is what names vCPU
threads "CPU <n>/KVM".
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

_NAME_FLAGS = ("-name", "--name")


def qemu_guest_name(argv: Sequence[str]) -> str | None:
    """The guest name given to `-name`, or None when there is none (the last one wins)."""
    name: str | None = None
    for flag, value in itertools.pairwise(argv):
        if flag in _NAME_FLAGS:
            name = _guest_from_opts(value) or name
    return name


def _guest_from_opts(value: str) -> str | None:
    for position, part in enumerate(split_qemu_opts(value)):
        key, sep, rest = part.partition("=")
        if sep and key == "guest":
            return rest or None
        if not sep and position == 0:
            return part or None
    return None


def split_qemu_opts(value: str) -> list[str]:
    """Split "a=1,b=x,,y" into ["a=1", "b=x,y"] the way QEMU does."""
    parts: list[str] = []
    current: list[str] = []
    i = 0
    while i < len(value):
        ch = value[i]
        if ch == ",":
            if value[i + 1 : i + 2] == ",":
                current.append(",")
                i += 2
                continue
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
        i += 1
    parts.append("".join(current))
    return parts
