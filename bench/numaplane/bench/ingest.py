"""`numaplane-bench ingest`: how the controller keeps up with N agents reporting.

    python -m numaplane.bench.ingest --agents 10,100,500 --interval 5 --warmup 10 --window 30
    numaplane-bench ingest --agents 10,100,500

For each N: an embedded etcd (one for the whole run, a fresh namespace per N), a real
Controller and N real agents on simulated hosts (numaplane.bench.ingest_fleet), all in this
process and event loop, talking gRPC over loopback. After every agent's first report
has been stored and a warm-up, one window is measured: reports ingested per second,
keys written to etcd per second, report-to-etcd latency (exact percentiles of raw
samples: from a report's arrival in its session to its transaction's answer, for the
reports that wrote something) and CPU.

CPU: agents share the process with the controller, so the same fleet is first run
against a sink that welcomes agents and drops their messages; the controller's CPU is
the process's CPU in the controller run minus that in the sink run, over the same
window. What both runs share — the agents, the gRPC transport both ways, protobuf
decoding — is so excluded. etcd runs in its own process and is measured from /proc.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import click
from rich.console import Console
from rich.table import Table

from numaplane.bench.ingest_fleet import FleetSpec, running_fleet, running_sink
from numaplane.bench.ingest_measure import Meter, Row, Window, machine
from numaplane.controller.policy.config import default_policy, encode_policy
from numaplane.controller.server import Controller
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, free_port
from numaplane.controller.store.etcd import EtcdStore
from numaplane.controller.store.settings import EtcdSettings


@dataclass(frozen=True)
class Config:
    interval_s: float = 5.0
    warmup_s: float = 10.0
    window_s: float = 30.0
    vms_per_host: int = 6
    drift: float = 0.3
    seed: int = 1
    fsync: bool = True
    policies: bool = False
    """Leave the balloon and rebalancing policies on (their commands then move VMs)."""
    loops: str = "all"
    """all: the leader runs every reconciler loop; ingest: only the reconciler's own
    (command requests, journal pruning), without the policy loops other modules add."""

    def fleet(self, agents: int) -> FleetSpec:
        return FleetSpec(agents=agents, vms_per_host=self.vms_per_host,
                         report_interval_s=self.interval_s, drift=self.drift, seed=self.seed)


async def _until(probe: Callable[[], bool], timeout_s: float) -> bool:
    """Wait for `probe`; False if it still fails after timeout_s (an overloaded run is
    measured all the same, and its row says so)."""
    deadline = time.monotonic() + timeout_s
    while not probe():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.2)
    return True


def _ready_timeout(agents: int, cfg: Config) -> float:
    return 60.0 + 2 * cfg.interval_s + 0.2 * agents


async def sink_run(agents: int, cfg: Config) -> Window:
    async with running_sink(cfg.interval_s) as (sink, address), \
            running_fleet(cfg.fleet(agents), address) as fleet:
        timeout = _ready_timeout(agents, cfg)
        ready = await _until(lambda: sink.hellos >= agents and fleet.all_reported(), timeout)
        note = "" if ready else (
            f"sink run: only {fleet.reported()}/{agents} agents had reported after {timeout:.0f} s")
        await asyncio.sleep(cfg.warmup_s)
        meter, reports, sessions = Meter(), sink.reports, fleet.sessions()
        meter.start()
        await asyncio.sleep(cfg.window_s)
        return meter.stop(sink.reports - reports, reconnects=fleet.sessions() - sessions,
                          note=note)


async def _quiet_policies(endpoint: str, namespace: str) -> None:
    """Balloon and rebalancing off: this measures ingest, not what the policies' commands
    cost (the loops still run and read the cluster; they only decide nothing)."""
    policy = default_policy()
    policy.balloon.enabled = False
    policy.rebalance.enabled = False
    async with EtcdStore(EtcdSettings(endpoints=(endpoint,), namespace=namespace)) as store:
        await store.put(keyspace.POLICY, encode_policy(policy))


async def controller_run(agents: int, cfg: Config, etcd: EmbeddedEtcd) -> Window:
    settings = ControllerSettings(
        admin_address=f"127.0.0.1:{free_port()}", link_address=f"127.0.0.1:{free_port()}",
        etcd_endpoints=(etcd.endpoint,), etcd_namespace=f"/bench-{uuid.uuid4().hex[:8]}",
        report_interval_s=cfg.interval_s,
    )
    if not cfg.policies:
        await _quiet_policies(etcd.endpoint, settings.etcd_namespace)
    ctl = Controller(settings)
    if cfg.loops == "ingest":
        own = ctl.reconciler
        own.loops = [loop for loop in own.loops if getattr(loop, "__self__", None) is own]
    async with ctl, running_fleet(cfg.fleet(agents), settings.link_address) as fleet:
        metrics = ctl.metrics

        def counter(name: str) -> int:
            return int(metrics.registry.get_sample_value(name) or 0)

        def stored() -> int:
            return sum(1 for s in ctl.sessions.all() if s.reports >= 1)

        timeout = _ready_timeout(agents, cfg)
        ready = await _until(lambda: stored() >= agents, timeout)
        note = "" if ready else (
            f"controller run: only {stored()}/{agents} agents' first reports stored after "
            f"{timeout:.0f} s (overloaded)")
        await asyncio.sleep(cfg.warmup_s)
        meter = Meter(etcd.pid)
        reports, writes = counter("numaplane_reports_total"), counter(
            "numaplane_store_writes_total")
        sessions = fleet.sessions()
        metrics.report_to_store_samples.clear()
        meter.start()
        await asyncio.sleep(cfg.window_s)
        return meter.stop(
            counter("numaplane_reports_total") - reports,
            store_writes=counter("numaplane_store_writes_total") - writes,
            latencies_s=tuple(metrics.report_to_store_samples),
            reconnects=fleet.sessions() - sessions, note=note,
        )


async def run_all(counts: Sequence[int], cfg: Config, progress: Console) -> list[Row]:
    rows = []
    with EmbeddedEtcd(unsafe_no_fsync=not cfg.fsync) as etcd:
        for n in counts:
            progress.log(f"{n} agents: sink run")
            sink = await sink_run(n, cfg)
            progress.log(f"{n} agents: controller run")
            rows.append(Row(n, sink, await controller_run(n, cfg, etcd)))
    return rows


def table(rows: Sequence[Row], cfg: Config) -> Table:
    t = Table(title="numaplane controller ingest (one process: controller + agents; "
                    "etcd separate)", title_justify="left")
    for col in ("agents", "reports/s", "etcd writes/s", "writes/report",
                "controller CPU", "process CPU\nctl / sink run", "loop busy", "etcd CPU",
                "report→etcd\np50", "report→etcd\np99", "samples", "re-\nconnects"):
        t.add_column(col, justify="right")
    for row in rows:
        r = row.record()
        t.add_row(
            str(row.agents), f"{r['reports_per_s']:.1f}", f"{r['etcd_writes_per_s']:.1f}",
            f"{r['writes_per_report']:.2f}", f"{r['controller_cpu_pct']:.1f}%",
            f"{r['process_cpu_pct_controller_run']:.0f}% / {r['process_cpu_pct_sink_run']:.0f}%",
            f"{r['loop_busy_pct']:.0f}%", f"{r['etcd_cpu_pct']:.1f}%",
            f"{r['latency_p50_ms']:.1f} ms", f"{r['latency_p99_ms']:.1f} ms",
            str(r["latency_samples"]), str(r["reconnects"]),
        )
    notes = [f"{row.agents} agents: {note}" for row in rows
             for note in (row.sink.note, row.controller.note) if note]
    t.caption = (
        "".join(f"NOTE {n}\n" for n in notes) +
        f"{machine()}\n"
        f"report interval {cfg.interval_s:g} s, warm-up {cfg.warmup_s:g} s, window "
        f"{cfg.window_s:g} s, {cfg.vms_per_host} VMs/host, drift {cfg.drift:g}/host/interval, "
        f"seed {cfg.seed}, etcd fsync {'on' if cfg.fsync else 'off'}, leader loops: "
        f"{'all' if cfg.loops == 'all' else 'requests and pruning only (no policy loops)'}"
        f", balloon and rebalancing policies {'on' if cfg.policies else 'off'}\n"
        "CPU in % of one core. controller CPU = process CPU with the controller minus "
        "process CPU with a sink in its place (same agents, same reports): the agents and "
        "the gRPC transport are excluded. loop busy = CPU of the event-loop thread, which "
        "runs agents and controller alike (100% = saturated). latency = exact nearest-rank "
        "percentiles over the window's reports that wrote to etcd."
    )
    t.caption_justify = "left"
    return t


@click.command(name="ingest")
@click.option("--agents", default="10,100,500", show_default=True,
              help="Comma-separated fleet sizes, one row each.")
@click.option("--interval", type=float, default=5.0, show_default=True,
              help="Report interval of every agent, seconds.")
@click.option("--warmup", type=float, default=10.0, show_default=True,
              help="Seconds after every agent's first report before measuring.")
@click.option("--window", type=float, default=30.0, show_default=True,
              help="Measured seconds per run (each size runs twice: sink, controller).")
@click.option("--vms", type=int, default=6, show_default=True, help="VMs per host.")
@click.option("--drift", type=float, default=0.3, show_default=True,
              help="Chance per host per interval that a VM migrates memory or ballooning.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--fsync/--no-fsync", default=True, show_default=True,
              help="etcd fsyncs its WAL (its default); --no-fsync measures without the disk.")
@click.option("--policies/--no-policies", default=False, show_default=True,
              help="Leave the balloon and rebalancing policies on (off: their commands "
                   "would move VMs under the measurement).")
@click.option("--loops", type=click.Choice(["all", "ingest"]), default="all",
              show_default=True,
              help="ingest: the leader runs no policy loop (placement, balloon, rebalance), "
                   "to tell their cost from ingestion's.")
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def ingest(agents: str, interval: float, warmup: float, window: float, vms: int,
           drift: float, seed: int, fsync: bool, policies: bool, loops: str,
           output: str) -> None:
    """Controller ingest rate, etcd writes, CPU and latency for N simulated agents."""
    try:
        counts = [int(a) for a in agents.split(",") if a.strip()]
    except ValueError:
        raise click.BadParameter(
            f"not a list of numbers: {agents!r}", param_hint="--agents") from None
    if not counts or min(counts) < 1:
        raise click.BadParameter("give at least one fleet size >= 1", param_hint="--agents")
    cfg = Config(interval_s=interval, warmup_s=warmup, window_s=window, vms_per_host=vms,
                 drift=drift, seed=seed, fsync=fsync, policies=policies, loops=loops)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    rows = asyncio.run(run_all(counts, cfg, Console(stderr=True)))
    if output == "json":
        click.echo(json.dumps({"machine": machine(), "config": asdict(cfg),
                               "rows": [r.record() for r in rows]}, indent=2))
    else:
        Console(width=200).print(table(rows, cfg))


if __name__ == "__main__":
    ingest()
