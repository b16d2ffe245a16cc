"""`numaplane-bench rebalance`: rebalancers after disturbances, against the oracle's bytes.

    numaplane-bench rebalance SCENARIO... [--policies xen,xen+numad,xen+numaplane]
        [--bandwidth-mib-s N] [--seed N] [--oracle room|room-limits|blind]
        [--output table|json]
        [--plot FILE.png]

Policies are `PLACEMENT+REBALANCER` names (`numaplane.bench.policies`). numaplane's rebalancers run
with the scenario's tick as their period and `--bandwidth-mib-s` as each host's budget
(default: the controller's, `RebalanceSettings.bandwidth_bytes_per_s`). The figures are
`numaplane.bench.rebalance_bench`'s: disturbances, periods to converge, GiB moved against the
oracle's bytes, and whether the rebalancing target (95 % of the oracle's locality within 3
periods, at most 1.25 x its bytes) is met — with the bytes the oracle moves to reach its
own locality, and (`strict`) the fewer bytes that reach only 95 % of it. `--oracle room`
(the default) measures against what each state's node capacities allow
(`numaplane.bench.room_oracle`); `room-limits` also keeps the operator's limits the controller's
rebalancer keeps (vCPUs per CPU, node headroom); `blind` gives the capacity-blind
figures (locality 1.0, remote bytes).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from numaplane.bench.policies import BenchPolicy, Rebalanced, UnknownPolicy, create_policy
from numaplane.bench.rebalance_bench import ORACLES, OracleName, RebalanceRun, run_rebalancing
from numaplane.bench.scenario import Scenario, ScenarioError, load_scenario
from numaplane.common.units import MiB
from numaplane.controller.policy.rebalance import REBALANCE_POLICIES, NumaplaneRebalancer
from numaplane.controller.policy.rebalance.settings import RebalanceSettings

DEFAULT_POLICIES = "xen,xen+numad,xen+numaplane,xen+numaplane-spread"


def policy_for(name: str, scenario: Scenario, bandwidth_mib_s: int | None) -> BenchPolicy:
    """`name` as `create_policy` makes it, numaplane rebalancers tuned to the scenario."""
    placement, _, rebalancer = name.partition("+")
    if rebalancer not in REBALANCE_POLICIES:
        return create_policy(name)
    base = REBALANCE_POLICIES[rebalancer]().settings
    settings = RebalanceSettings(
        **{
            **base.__dict__,
            "period_s": scenario.tick_s,
            "bandwidth_bytes_per_s": (
                bandwidth_mib_s * MiB if bandwidth_mib_s else base.bandwidth_bytes_per_s
            ),
        }
    )
    return Rebalanced(name, create_policy(placement), NumaplaneRebalancer(settings).plan)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return str(value)


COLUMNS = (
    ("scenario", "scenario"),
    ("policy", "policy"),
    ("locality", "mean_locality"),
    ("node-set", "mean_node_set_locality"),
    ("oracle n-s", "oracle_node_set_locality"),
    ("thr", "mean_vm_throughput"),
    ("p5 thr", "p5_vm_throughput"),
    ("rej.", "placements_rejected"),
    ("settle", "settle_periods"),
    ("GiB moved", "gib_moved"),
    ("oracle GiB", "oracle_gib"),
    ("x oracle", "bytes_ratio"),
    ("strict GiB", "strict_oracle_gib"),
    ("x strict", "strict_bytes_ratio"),
    ("disturb.", "disturbances"),
    ("<=3 periods", "converged_in_3"),
    ("median", "median_periods"),
    ("worst", "worst_periods"),
    ("target met", "meets_target"),
    ("strict met", "meets_strict_target"),
)


def table(records: list[dict[str, Any]]) -> Table:
    out = Table()
    for header, _ in COLUMNS:
        left = header in ("scenario", "policy")
        out.add_column(header, justify="left" if left else "right", no_wrap=left)
    for rec in records:
        out.add_row(*(_cell(rec[key]) for _, key in COLUMNS))
    return out


@click.command("rebalance")
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--policies", default=DEFAULT_POLICIES, show_default=True,
              help="Comma-separated PLACEMENT+REBALANCER names.")  # fmt: skip
@click.option(
    "--bandwidth-mib-s",
    type=click.IntRange(min=1),
    default=None,
    help="numaplane rebalancers' per-host budget (default: the controller's).",
)
@click.option("--seed", type=int, default=None, help="Override every scenario's seed.")
@click.option(
    "--oracle",
    "oracle",
    type=click.Choice(ORACLES),
    default="room",
    show_default=True,
    help="room: each state's best locality and bytes within node capacities; "
    "room-limits: also within the controller's vCPU-per-CPU limit and node headroom; "
    "blind: locality 1.0 and remote bytes, as if every node had room.",
)
@click.option("--output", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Locality and GiB moved (with the oracle's bound) over time, to this PNG.",
)
def rebalance(
    scenarios: tuple[str, ...],
    policies: str,
    bandwidth_mib_s: int | None,
    seed: int | None,
    oracle: OracleName,
    output: str,
    plot: Path | None,
) -> None:
    """Rebalancers after disturbances: time to converge and bytes moved vs the oracle."""
    names = [p.strip() for p in policies.split(",") if p.strip()]
    runs: list[RebalanceRun] = []
    for scenario_name in scenarios:
        try:
            scenario = load_scenario(scenario_name)
        except ScenarioError as e:
            raise click.UsageError(str(e)) from None
        for name in names:
            try:
                policy = policy_for(name, scenario, bandwidth_mib_s)
            except UnknownPolicy as e:
                raise click.UsageError(str(e)) from None
            runs.append(run_rebalancing(scenario, policy, seed=seed, oracle=oracle))
    records = [r.record() for r in runs]
    bounded = sorted({f"{r['scenario']}/{r['policy']}" for r in records if not r["oracle_exact"]})
    if output == "json":
        click.echo(json.dumps(records, indent=2))
    else:
        console = Console()
        (console if console.is_terminal else Console(width=180)).print(table(records))
        if oracle != "blind" and bounded:
            click.echo(f"oracle only bounded (not solved exactly) in: {', '.join(bounded)}")
    if plot is not None:
        from numaplane.bench.rebalance_plot import plot_rebalancing

        plot_rebalancing(runs, plot)
        click.echo(f"plot written to {plot}", err=True)
