"""A run's record for people and programs: the JSON object and the table row.

The JSON object holds the headline metrics of `RunResult.headline()` plus `oracle`: the
best achievable value of the same metrics for the scenario, where `numaplane.bench.oracle` defines
it (None otherwise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from numaplane.bench.metrics import RunResult

Oracle = Mapping[str, Any] | None

COLUMNS = (
    ("scenario", "scenario"),
    ("policy", "policy"),
    ("locality", "mean_locality"),
    ("node-set", "mean_node_set_locality"),
    ("thr", "mean_vm_throughput"),
    ("p5 thr", "p5_vm_throughput"),
    ("GiB moved", "gib_migrated"),
    ("rejected", "placements_rejected"),
    ("deferred", "placements_deferred"),
    ("wait s", "mean_wait_s"),
    ("resv viol", "reservation_violations"),
)


def record(result: RunResult, oracle: Oracle) -> dict[str, Any]:
    out = result.headline()
    out["oracle"] = dict(oracle) if oracle is not None else None
    return out


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _of_optimum(rec: Mapping[str, Any]) -> str:
    oracle = rec.get("oracle") or {}
    best = oracle.get("mean_vm_throughput")
    if not isinstance(best, int | float) or best <= 0:
        return "-"
    return f"{100 * rec['mean_vm_throughput'] / best:.0f}%"


def table(records: Sequence[Mapping[str, Any]], title: str | None = None) -> Table:
    out = Table(title=title)
    for header, _ in COLUMNS:
        left = header in ("scenario", "policy")
        out.add_column(header, justify="left" if left else "right", no_wrap=left)
    out.add_column("thr/oracle", justify="right")
    out.add_column("wall s", justify="right")
    for rec in records:
        out.add_row(
            *(_cell(rec[key]) for _, key in COLUMNS), _of_optimum(rec), f"{rec['wall_s']:.2f}"
        )
    return out
