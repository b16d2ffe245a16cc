"""The balloon comparison plot, one column per scenario and one colour per balloon policy:
the lowest node's free share over time (the host's, which is what MOM looks at, dashed)
with the 20 % pressure line, the GiB reclaimed so far, and the swap events so far.
Drawn with matplotlib's object API, like `numaplane.bench.plot`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure

from numaplane.bench.balloon_metrics import PRESSURE
from numaplane.bench.metrics import RunResult


def plot_balloons(results: Sequence[RunResult], path: Path) -> None:
    runs = [r for r in results if r.balloon is not None]
    scenarios = list(dict.fromkeys(r.scenario for r in runs))
    fig = Figure(figsize=(5.5 * len(scenarios), 8))
    axes = fig.subplots(3, len(scenarios), squeeze=False, sharex="col")
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    labels = list(dict.fromkeys(_label(r) for r in runs))
    for col, scenario in enumerate(scenarios):
        free, reclaimed, swaps = axes[0][col], axes[1][col], axes[2][col]
        for r in (r for r in runs if r.scenario == scenario):
            assert r.balloon is not None
            samples = r.balloon.samples
            t = [s.t / 60 for s in samples]
            color = colors[labels.index(_label(r)) % len(colors)]
            free.plot(t, [100 * s.min_node_free for s in samples], color=color, label=_label(r))
            free.plot(t, [100 * s.min_host_free for s in samples], color=color, ls="--", lw=0.8)
            reclaimed.plot(t, [s.reclaimed_gib for s in samples], color=color)
            swaps.plot(t, [s.swap_events for s in samples], color=color)
        free.axhline(100 * PRESSURE, color="grey", lw=0.8, ls=":")
        free.set_title(scenario)
        free.set_ylim(bottom=0)
        swaps.set_xlabel("simulated time (min)")
        if col == 0:
            free.set_ylabel("lowest free % (node; dashed: host)")
            reclaimed.set_ylabel("GiB reclaimed (cumulative)")
            swaps.set_ylabel("swap events (cumulative)")
        for ax in (free, reclaimed, swaps):
            ax.grid(alpha=0.3)
    axes[0][0].legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def _label(result: RunResult) -> str:
    assert result.balloon is not None
    return result.balloon.policy
