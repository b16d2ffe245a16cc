"""How many character cells each part of a memory bar gets.

A bar of `width` cells shows a node's memory split into parts (one per VM, then
other used, then free). Cells are proportional (largest remainder), always add up
to `width`, and any part with memory gets at least one cell while there are cells
to give: a 64 MiB VM on a 512 GiB node must still be visible.
"""

from __future__ import annotations

from collections.abc import Sequence


def split_cells(sizes: Sequence[int], width: int) -> list[int]:
    """Cells per size (negative sizes count as 0); sums to `width` unless all are 0."""
    sizes = [max(0, s) for s in sizes]
    total = sum(sizes)
    if total == 0 or width <= 0:
        return [0] * len(sizes)
    exact = [s * width / total for s in sizes]
    cells = [int(x) for x in exact]
    for i, s in enumerate(sizes):
        if s > 0 and cells[i] == 0:
            cells[i] = 1
    while sum(cells) < width:
        i = max(range(len(sizes)), key=lambda k: (exact[k] - cells[k], sizes[k]))
        cells[i] += 1
    while sum(cells) > width:
        # Take from the part most over its share that can spare a cell (keep >= 1);
        # only when every part has exactly one cell can a part drop to zero. Ties go
        # to later parts: callers put VMs first and free memory last.
        spare = [k for k in range(len(sizes)) if cells[k] > 1] or [
            k for k in range(len(sizes)) if cells[k] > 0
        ]
        i = max(spare, key=lambda k: (cells[k] - exact[k], -sizes[k], k))
        cells[i] -= 1
    return cells
