"""The balloon comparison for people: a table of the headline numbers (the plot is in
`numaplane.bench.balloon_plot`, apart because matplotlib is slow to import).

Table columns (one row per scenario x placement x balloon policy): lowest and mean free
memory, GiB the balloons were asked to reclaim, mean time to relieve a pressure episode
("-" when none ended) and the episodes still open at the end, seconds under pressure per
host, swap events and GiB swapped out, reservation violations, mean VM throughput.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

COLUMNS = (
    ("scenario", "scenario"),
    ("placement", "policy"),
    ("balloon", "balloon"),
    ("min free", "min_free"),
    ("mean free", "mean_free"),
    ("GiB reclaimed", "gib_reclaimed"),
    ("relieve s", "relieve_s"),
    ("open", "unrelieved"),
    ("pressure s", "pressure_s"),
    ("swap events", "swap_events"),
    ("GiB swapped", "gib_swapped_out"),
    ("resv viol", "reservation_violations"),
    ("rejected", "placements_rejected"),
    ("thr", "mean_vm_throughput"),
)


def _cell(key: str, rec: Mapping[str, Any]) -> str:
    value = rec.get(key)
    if key in ("min_free", "mean_free") and isinstance(value, float | int):
        return f"{100 * value:.1f}%"
    if key == "relieve_s":
        return "-" if value is None else f"{value:.0f}"
    if isinstance(value, float):
        return f"{value:.3f}" if key == "mean_vm_throughput" else f"{value:.1f}"
    return str(value)


def balloon_table(records: Sequence[Mapping[str, Any]]) -> Table:
    out = Table(title="balloons")
    for header, _ in COLUMNS:
        left = header in ("scenario", "placement", "balloon")
        out.add_column(header, justify="left" if left else "right", no_wrap=left)
    for rec in records:
        if "balloon" in rec:
            out.add_row(*(_cell(key, rec) for _, key in COLUMNS))
    return out
