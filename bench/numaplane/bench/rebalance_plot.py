"""The rebalancing plot: per scenario, node-set locality over time against its target (top, dotted:
95 % of the oracle's locality of each policy's own state) and GiB moved so far against
the oracle's lower bound (bottom, dashed), one colour per policy. Drawn with
matplotlib's object API (a bare `Figure`, Agg), as `numaplane.bench.plot` does."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from matplotlib import rcParams
from matplotlib.figure import Figure

from numaplane.bench.rebalance_bench import RebalanceRun
from numaplane.common.units import GiB


def plot_rebalancing(runs: Sequence[RebalanceRun], path: Path) -> None:
    scenarios = list(dict.fromkeys(r.result.scenario for r in runs))
    policies = list(dict.fromkeys(r.result.policy for r in runs))
    colors = rcParams["axes.prop_cycle"].by_key()["color"]
    fig = Figure(figsize=(5 * len(scenarios), 6.5))
    axes = fig.subplots(2, len(scenarios), squeeze=False, sharex="col")
    for col, scenario in enumerate(scenarios):
        top, bottom = axes[0][col], axes[1][col]
        for run in (r for r in runs if r.result.scenario == scenario):
            color = colors[policies.index(run.result.policy) % len(colors)]
            minutes = [t / 60 for t in run.times]
            top.plot(minutes, [s.node_set_locality for s in run.result.samples], color=color,
                     label=run.result.policy, lw=1.2)  # fmt: skip
            bottom.plot(minutes, [b / GiB for b in run.moved_bytes], color=color, lw=1.2)
            bottom.plot(minutes, [b / GiB for b in run.bound_bytes], color=color, lw=0.8,
                        ls="--")  # fmt: skip
            top.plot(minutes, run.targets, color=color, lw=0.6, ls=":")
        top.set_title(scenario)
        top.set_ylim(0, 1.05)
        top.grid(alpha=0.3)
        bottom.grid(alpha=0.3)
        bottom.set_xlabel("simulated time (min)")
        if col == 0:
            top.set_ylabel("node-set locality (dotted: 95 % of oracle's)")
            bottom.set_ylabel("GiB moved (dashed: oracle bound)")
    axes[0][0].legend(loc="lower right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
