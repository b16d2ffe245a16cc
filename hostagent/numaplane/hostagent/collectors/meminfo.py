"""The "Name:   value kB" files: /proc/meminfo and sysfs `node*/meminfo`.

Both print one field per line; the per-node file prefixes each line with "Node <id> ".
Values are kept as printed (kB for sizes, plain counts for HugePages_*), and
`kib_as_bytes` converts one size field, naming the file if it is missing.
"""

from __future__ import annotations

import re
from pathlib import Path

from numaplane.hostagent.collectors.host_files import HostFileError

_LINE = re.compile(r"^(?:Node\s+(?P<node>\d+)\s+)?(?P<key>[^:\s]+):\s+(?P<value>\d+)(?:\s+kB)?\s*$")


def parse_meminfo(text: str, path: Path, *, node: int | None = None) -> dict[str, int]:
    """Fields of a meminfo file by name.

    With `node` set, every line must carry that "Node <id>" prefix: a node's file that
    speaks about another node means the tree is not what it claims to be.
    """
    fields: dict[str, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        m = _LINE.match(line)
        if m is None:
            raise HostFileError(path, f"line {number} is not 'Name: value [kB]': {line!r}")
        line_node = m.group("node")
        if node is not None and (line_node is None or int(line_node) != node):
            raise HostFileError(path, f"line {number} is not about node {node}: {line!r}")
        fields[m.group("key")] = int(m.group("value"))
    return fields


def kib_as_bytes(fields: dict[str, int], key: str, path: Path) -> int:
    """Field `key` (printed in kB, which the kernel means as KiB) in bytes."""
    try:
        return fields[key] * 1024
    except KeyError:
        raise HostFileError(path, f"has no {key} line") from None
