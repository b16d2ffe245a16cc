"""`numaplane-bench ingest` end to end on a tiny fleet: it runs, measures, and renders.

Not a performance test: nothing here bounds a figure, it checks that both runs (sink
and controller) happen on the real path and that what the table shows adds up.
"""

from __future__ import annotations

import io
import math

import pytest
from rich.console import Console

from numaplane.bench.ingest import Config, run_all, table
from numaplane.bench.ingest_measure import Row, Window, percentile

pytestmark = pytest.mark.integration


async def test_a_small_fleet_is_measured_against_the_sink_and_the_controller() -> None:
    cfg = Config(interval_s=0.5, warmup_s=0.5, window_s=2.0, vms_per_host=2, fsync=False,
                 loops="ingest")
    quiet = Console(file=io.StringIO())
    [row] = await run_all([3], cfg, quiet)
    rec = row.record()
    assert rec["agents"] == 3
    # Three agents at two reports a second each, give or take a report at the edges.
    assert row.sink.reports > 0 and row.controller.reports > 0
    assert rec["reports_per_s"] == row.controller.reports / row.controller.wall_s
    assert row.controller.store_writes >= 0
    assert len(row.controller.latencies_s) == rec["latency_samples"]
    out = io.StringIO()
    Console(file=out, width=200).print(table([row], cfg))
    text = out.getvalue()
    assert "usable cores" in text and "process CPU with a sink" in text
    assert text.count("\n│      3 │") == 1


def test_nearest_rank_percentiles() -> None:
    samples = [float(i) for i in range(1, 101)]
    assert percentile(samples, 0.50) == 50.0
    assert percentile(samples, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert math.isnan(percentile([], 0.5))


def test_controller_cpu_is_the_difference_of_the_two_runs() -> None:
    sink = Window(wall_s=10.0, process_cpu_s=2.0, loop_cpu_s=1.5, reports=100)
    ctl = Window(wall_s=20.0, process_cpu_s=7.0, loop_cpu_s=5.0, reports=200,
                 store_writes=50, latencies_s=(0.002, 0.001, 0.004))
    rec = Row(10, sink, ctl).record()
    assert rec["controller_cpu_pct"] == pytest.approx(15.0)  # 35% - 20%
    assert rec["writes_per_report"] == 0.25
    assert rec["latency_p50_ms"] == pytest.approx(2.0)
