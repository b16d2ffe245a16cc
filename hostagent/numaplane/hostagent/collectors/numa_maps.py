"""Where a process's memory sits, by NUMA node, from /proc/<pid>/numa_maps.

Each line is one mapping: an address, the memory policy (which may contain spaces, as in
"weighted interleave" or "prefer (many)"), then `key=value` tokens. `N<node>=<pages>`
counts the mapping's resident pages on that node, in units of `kernelpagesize_kB`:
4 kB for ordinary mappings (transparent huge pages are counted in 4 kB pages there),
2048 or 1048576 kB for hugetlbfs mappings (marked `huge`), which therefore count in full.
A mapping with no resident page has no `N<node>=` and no `kernelpagesize_kB` token.

File names are printed with spaces escaped (as \\040), so splitting on whitespace is
safe; tokens are matched exactly, so a file name can never be read as a page count.
Shared file pages count in full for every process that maps them, as in VmRSS.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from numaplane.hostagent.collectors.host_files import HostFileError, read_process_file

_NODE_PAGES = re.compile(r"^N(\d+)=(\d+)$")
_PAGE_SIZE = re.compile(r"^kernelpagesize_kB=(\d+)$")


def system_page_size() -> int:
    """The base page size in bytes, used for lines that do not state their own."""
    return os.sysconf("SC_PAGE_SIZE")


def parse_numa_maps(text: str, *, page_size: int | None = None) -> dict[int, int]:
    """Resident bytes per node summed over every mapping in a numa_maps text.

    `page_size` (bytes) applies to lines without `kernelpagesize_kB=`; it defaults to the
    system page size. Nodes with no pages are absent from the result.
    Raises ValueError naming the line when a page count or page size is malformed.
    """
    default_page = system_page_size() if page_size is None else page_size
    by_node: dict[int, int] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        tokens = line.split()
        if not tokens:
            continue
        line_pages: list[tuple[int, int]] = []
        line_page_size = default_page
        for token in tokens[1:]:
            if token.startswith("N") and "=" in token:
                m = _NODE_PAGES.match(token)
                if m is None:
                    raise ValueError(f"line {number}: bad node page count {token!r}")
                line_pages.append((int(m.group(1)), int(m.group(2))))
            elif token.startswith("kernelpagesize_kB="):
                m = _PAGE_SIZE.match(token)
                if m is None:
                    raise ValueError(f"line {number}: bad page size {token!r}")
                line_page_size = int(m.group(1)) * 1024
        for node, pages in line_pages:
            by_node[node] = by_node.get(node, 0) + pages * line_page_size
    return {node: size for node, size in sorted(by_node.items()) if size}


def read_numa_maps(pid: int, proc_root: Path = Path("/proc")) -> dict[int, int]:
    """Resident bytes per node of process `pid`.

    Raises ProcessGone if the process exited, HostFileError if the file cannot be read
    (for another user's process this needs CAP_SYS_PTRACE) or understood.
    """
    path = proc_root / str(pid) / "numa_maps"
    text = read_process_file(path)
    try:
        return parse_numa_maps(text)
    except ValueError as e:
        raise HostFileError(path, str(e)) from None
