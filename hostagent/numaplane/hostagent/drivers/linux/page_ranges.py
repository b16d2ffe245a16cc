"""A process's memory as ranges of pages, with how many of them sit on each node.

/proc/<pid>/maps gives each mapping's start and end; /proc/<pid>/numa_maps, one line per
mapping keyed by the same start address, gives its resident pages per node
(`N<node>=<pages>`) and its page size (`kernelpagesize_kB`, 2048 or 1048576 for
hugetlbfs). Together they say which mappings have pages outside a target node set, so a
migration walks only those, page by page in the mapping's own page size.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from numaplane.hostagent.collectors.host_files import read_process_file

_MAPS_LINE = re.compile(r"^([0-9a-f]+)-([0-9a-f]+)\s")
_NODE_PAGES = re.compile(r"^N(\d+)=(\d+)$")
_PAGE_SIZE = re.compile(r"^kernelpagesize_kB=(\d+)$")


@dataclass(frozen=True)
class PageRange:
    start: int
    end: int
    page_size: int
    pages_by_node: dict[int, int]

    def pages_outside(self, nodes: frozenset[int]) -> int:
        return sum(p for n, p in self.pages_by_node.items() if n not in nodes)

    def addresses(self, chunk: int) -> Iterator[list[int]]:
        """The range's page addresses, at most `chunk` at a time, in chunks aligned to
        `chunk` pages: a transparent huge page (2 MiB, 512 base pages) then lies in one
        chunk, and moving it whole with its first address is counted in that chunk."""
        step = self.page_size
        span = step * chunk
        first = self.start
        while first < self.end:
            last = min(self.end, (first // span + 1) * span)
            yield list(range(first, last, step))
            first = last


def read_page_ranges(pid: int, proc_root: Path, default_page_size: int) -> list[PageRange]:
    """Every mapping of `pid` that has resident pages, in address order."""
    ends: dict[int, int] = {}
    for line in read_process_file(proc_root / str(pid) / "maps").splitlines():
        m = _MAPS_LINE.match(line)
        if m:
            ends[int(m.group(1), 16)] = int(m.group(2), 16)
    ranges = []
    for line in read_process_file(proc_root / str(pid) / "numa_maps").splitlines():
        tokens = line.split()
        if not tokens:
            continue
        try:
            start = int(tokens[0], 16)
        except ValueError:
            continue
        if start not in ends:
            continue  # the mapping changed between the two reads
        by_node: dict[int, int] = {}
        page_size = default_page_size
        for token in tokens[1:]:
            if (m := _NODE_PAGES.match(token)) is not None:
                by_node[int(m.group(1))] = int(m.group(2))
            elif (m := _PAGE_SIZE.match(token)) is not None:
                page_size = int(m.group(1)) * 1024
        if by_node:
            ranges.append(PageRange(start, ends[start], page_size, by_node))
    return ranges
