"""`numaplane-bench`: run policies through scenarios and compare them.

    numaplane-bench run SCENARIO --policy NAME [--seed N] [--output table|json]
    numaplane-bench compare SCENARIO... --policies a,b,c [--seed N] [--plot FILE.png]
        [--balloons none,mom,numaplane]
    numaplane-bench decision-time [--policies a,b] [--requests N] [--seed N]
    numaplane-bench list
    numaplane-bench rebalance SCENARIO... [--policies ...] [--plot FILE.png]
    (numaplane.bench.rebalance_cli) numaplane-bench ingest [--agents 10,100,500] [--interval 5]
    [--window 30] (numaplane.bench.ingest)

SCENARIO is a path to a YAML file or the name of one in bench/scenarios. Progress goes
to stderr (when it is a terminal); results to stdout. A bad scenario or policy name
prints one line (`file:line: reason`) and exits with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from numaplane.bench.balloon import UnknownBalloonPolicy, balloon_names, create_balloon_policy
from numaplane.bench.balloon_report import balloon_table
from numaplane.bench.ingest import ingest
from numaplane.bench.metrics import RunResult
from numaplane.bench.oracle import oracle_metrics
from numaplane.bench.policies import UnknownPolicy, create_policy, policy_names, rebalancer_names
from numaplane.bench.report import record, table
from numaplane.bench.runner import run_scenario
from numaplane.bench.scenario import Scenario, ScenarioError, bundled_scenarios, load_scenario

OUTPUTS = click.Choice(["table", "json"])


class UsageProblem(click.ClickException):
    exit_code = 2


def _stdout() -> Console:
    """Tables fit the terminal; piped into a file they are not squeezed to 80 columns."""
    console = Console()
    return console if console.is_terminal else Console(width=160)


def _load(name: str) -> Scenario:
    try:
        return load_scenario(name)
    except ScenarioError as e:
        raise UsageProblem(str(e)) from None


def _check_policies(names: Sequence[str]) -> None:
    for name in names:
        try:
            create_policy(name)
        except UnknownPolicy as e:
            raise UsageProblem(str(e)) from None


@contextmanager
def _progress(total: int) -> Iterator[Callable[[str], Callable[[int, int], None]]]:
    """A progress bar over `total` ticks; yields a factory of per-run tick callbacks."""
    console = Console(stderr=True)
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    ) as bar:
        task = bar.add_task("", total=total)

        def for_run(label: str) -> Callable[[int, int], None]:
            bar.update(task, description=label)
            last = [0]

            def tick(done: int, _of: int) -> None:
                bar.advance(task, done - last[0])
                last[0] = done

            return tick

        yield for_run


def _ticks(scenario: Scenario) -> int:
    return max(1, round(scenario.duration_s / scenario.tick_s))


def _check_balloons(names: Sequence[str]) -> None:
    for name in names:
        try:
            create_balloon_policy(name)
        except UnknownBalloonPolicy as e:
            raise UsageProblem(str(e)) from None


def _run_all(
    scenarios: Sequence[Scenario],
    policies: Sequence[str],
    seed: int | None,
    balloons: Sequence[str | None] = (None,),
    pending: str = "reject",
) -> list[tuple[RunResult, dict[str, Any]]]:
    """Every scenario x policy (x balloon policy, None = no balloon step at all)."""
    out = []
    runs = len(policies) * len(balloons)
    with _progress(sum(_ticks(s) for s in scenarios) * runs) as for_run:
        for scenario in scenarios:
            oracle = oracle_metrics(scenario, seed)
            for name in policies:
                for balloon in balloons:
                    label = f"{scenario.name} / {name}" + (f" / {balloon}" if balloon else "")
                    result = run_scenario(
                        scenario, create_policy(name), seed=seed, progress=for_run(label),
                        balloon=create_balloon_policy(balloon) if balloon else None,
                        retry=pending == "retry",
                    )
                    out.append((result, record(result, oracle)))
    return out


PENDING = click.Choice(["reject", "retry"])
PENDING_HELP = (
    "What happens to a request no host takes: 'reject' drops it (a toolstack's `xl create`"
    " fails back to its caller); 'retry' keeps it pending and tries it again every tick"
    " until it starts (what the controller does; a cluster manager reschedules). The same"
    " rule for every policy."
)


def _balloon_list(text: str | None) -> list[str | None]:
    if text is None:
        return [None]
    names = [b.strip() for b in text.split(",") if b.strip()]
    if not names:
        raise UsageProblem("--balloons names no balloon policy")
    _check_balloons(names)
    return list(names)


@click.group()
def main() -> None:
    """Benchmark numaplane's policies against baselines on simulated clusters."""


@main.command()
@click.argument("scenario")
@click.option("--policy", "policy", required=True, help="Policy name (see `list`).")
@click.option("--seed", type=int, default=None, help="Override the scenario's seed.")
@click.option("--output", type=OUTPUTS, default="table", show_default=True)
@click.option("--balloon", default=None, help="Balloon policy: none, mom or numaplane.")
@click.option("--pending", type=PENDING, default="reject", show_default=True, help=PENDING_HELP)
def run(
    scenario: str, policy: str, seed: int | None, output: str, balloon: str | None, pending: str
) -> None:
    """Run one policy through one scenario."""
    loaded = _load(scenario)
    _check_policies([policy])
    [(_, rec)] = _run_all([loaded], [policy], seed, _balloon_list(balloon), pending)
    if output == "json":
        click.echo(json.dumps(rec, indent=2))
    else:
        _stdout().print(table([rec]))
        if balloon is not None:
            _stdout().print(balloon_table([rec]))


@main.command()
@click.argument("scenarios", nargs=-1, required=True)
@click.option("--policies", required=True, help="Comma-separated policy names.")
@click.option("--seed", type=int, default=None, help="Override every scenario's seed.")
@click.option("--output", type=OUTPUTS, default="table", show_default=True)
@click.option(
    "--plot",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write locality and throughput over simulated time to this PNG (with --balloons:"
    " free memory, GiB reclaimed and swap events over time).",
)
@click.option(
    "--balloons",
    default=None,
    help="Comma-separated balloon policies (none, mom, numaplane): each placement policy "
    "runs once with each.",
)
@click.option("--pending", type=PENDING, default="reject", show_default=True, help=PENDING_HELP)
def compare(
    scenarios: tuple[str, ...], policies: str, seed: int | None, output: str, plot: Path | None,
    balloons: str | None, pending: str,
) -> None:
    """Run several policies through several scenarios; one row per scenario x policy
    (x balloon policy)."""
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise UsageProblem("--policies names no policy")
    loaded = [_load(s) for s in scenarios]
    _check_policies(names)
    balloon_names_ = _balloon_list(balloons)
    results = _run_all(loaded, names, seed, balloon_names_, pending)
    records = [rec for _, rec in results]
    if output == "json":
        click.echo(json.dumps(records, indent=2))
    elif balloons is not None:
        _stdout().print(balloon_table(records))  # it has the throughput columns too
    else:
        _stdout().print(table(records))
    if plot is not None:
        # matplotlib is slow to import: only when asked
        if balloons is not None:
            from numaplane.bench.balloon_plot import plot_balloons

            plot_balloons([r for r, _ in results], plot)
        else:
            from numaplane.bench.plot import plot_results

            plot_results([r for r, _ in results], plot)
        click.echo(f"plot written to {plot}", err=True)


@main.command(name="decision-time")
@click.option("--policies", default="numaplane", show_default=True,
              help="Comma-separated policy names to time.")
@click.option("--requests", type=click.IntRange(min=1), default=200, show_default=True,
              help="Requests timed per case and policy.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--output", type=OUTPUTS, default="table", show_default=True)
def decision_time(policies: str, requests: int, seed: int, output: str) -> None:
    """Time one placement decision: a VM on 1,000 hosts, a VM over 8 of 16 nodes."""
    from numaplane.bench.decision_time import record, run
    from numaplane.bench.decision_time import table as timing_table

    names = [p.strip() for p in policies.split(",") if p.strip()]
    _check_policies(names)
    timings = run(names, requests=requests, seed=seed)
    if output == "json":
        click.echo(json.dumps([record(t) for t in timings], indent=2))
    else:
        _stdout().print(timing_table(timings))


@main.command(name="list")
def list_() -> None:
    """The bundled scenarios and the known policies."""
    click.echo("scenarios: " + ", ".join(p.stem for p in bundled_scenarios()))
    click.echo("policies: " + ", ".join(policy_names()))
    click.echo("balloon policies: " + ", ".join(balloon_names()) + " (--balloon(s))")
    click.echo(
        "rebalancers: " + ", ".join(rebalancer_names()) + " (compose: PLACEMENT+REBALANCER)"
    )


main.add_command(ingest)  # the controller's ingest rate with real gRPC and etcd


def _add_rebalance() -> None:
    from numaplane.bench.rebalance_cli import rebalance  # the rebalancing figures

    main.add_command(rebalance)


_add_rebalance()
