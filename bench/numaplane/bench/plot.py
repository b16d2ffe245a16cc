"""The comparison plot: locality and throughput over simulated time, one line per policy.

One column per scenario; the top row is memory-weighted locality (solid, per vCPU) and
node-set locality (dashed), the bottom row the mean VM throughput relative to all-local and
uncontended. Drawn with matplotlib's object API (a bare `Figure`, rendered by Agg), so
no display and no global pyplot state are involved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure

from numaplane.bench.metrics import RunResult


def _time_axis(result: RunResult) -> tuple[list[float], str]:
    last = result.samples[-1].t if result.samples else 0.0
    scale, unit = (3600.0, "h") if last > 3 * 3600 else (60.0, "min") if last > 600 else (1.0, "s")
    return [s.t / scale for s in result.samples], unit


def plot_results(results: Sequence[RunResult], path: Path) -> None:
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    fig = Figure(figsize=(5 * len(scenarios), 6))
    axes = fig.subplots(2, len(scenarios), squeeze=False, sharex="col")
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    policies = list(dict.fromkeys(r.policy for r in results))
    for col, scenario in enumerate(scenarios):
        top, bottom = axes[0][col], axes[1][col]
        unit = "s"
        for result in (r for r in results if r.scenario == scenario):
            t, unit = _time_axis(result)
            color = colors[policies.index(result.policy) % len(colors)]
            top.plot(t, [s.locality for s in result.samples], color=color, label=result.policy)
            top.plot(t, [s.node_set_locality for s in result.samples], color=color, ls="--",
                     lw=0.8)
            bottom.plot(t, [s.mean_throughput for s in result.samples], color=color)
        top.set_title(scenario)
        top.set_ylim(0, 1.05)
        bottom.set_ylim(0, 1.05)
        bottom.set_xlabel(f"simulated time ({unit})")
        if col == 0:
            top.set_ylabel("locality (dashed: node-set)")
            bottom.set_ylabel("mean VM throughput")
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
    axes[0][0].legend(loc="lower left", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
