"""Rebalancing figures: how fast locality comes back after a disturbance, and at what cost.

"Locality" in the disturbance and convergence figures below is the node-set locality
(share of memory on the nodes where the vCPUs run, `VmView.node_set_locality`), the
figure the room oracle's L* is defined on; the per-vCPU locality the product reports is
the `mean_locality` column.

A run here is `numaplane.bench.runner`'s tick loop (the same `Run`, the same order: events, the
policy's plan, time, metrics) with two more measurements per tick, taken on the views
the policy sees:

- the **deficit** D: the fewest bytes that must move for the cluster's locality to
  reach the oracle's locality, on ticks that have events: on a copy of the cluster
  advanced one tick without the events, and on one advanced one tick with them, neither
  running the policy's pass — so a VM that grows, or memory that lands during the tick,
  counts, while in-flight moves progress alike in both;
- the bytes moved so far (NUMA migrations and host moves).

Two oracles define the target and D (`--oracle` of `numaplane-bench rebalance`):

- `room` (the default, `numaplane.bench.room_oracle`): the target of a state S is TARGET x L*(S),
  the best locality S allows with every node's capacity kept (a VM stays, or goes to a
  compact home on its host or, by live migration, on another), and D is D(S, L*(S)),
  the fewest bytes over those choices that reach L* — what the oracle, as a policy,
  moves. The strict figures use D(S, TARGET x L*(S)), the bytes that reach only the
  target. All are exact mixed-integer programs per state, with labelled fallbacks
  (`RebalanceRun.oracle_methods` counts which happened).
- `room-limits`: the same within the operator's limits the controller's rebalancer
  keeps (`RebalanceSettings` defaults: vCPUs per CPU, node headroom).
- `blind` (the figures before it): the target is TARGET x the scenario oracle's locality
  (1.0, `numaplane.bench.oracle`), and D is `oracle.min_bytes_to_move` (metric `locality`, vCPUs
  where they are): remote bytes, as if they could always move to the vCPUs' nodes.

A **disturbance** is a tick whose events raise D (a VM spilled on arrival, grew into a
remote node, ...). The oracle's bytes are the sum of those raises: each byte of deficit
an event created must be moved by someone. (Events that lower D — departures — are not
credited, so the sum stays a lower bound on what a policy that never moves needlessly
must move, for a policy that repairs within the oracle's choices; see `numaplane.bench.room_oracle`
for why spreading vCPUs can do with less.)

**Time to converge** after a disturbance at tick k: the number of periods (ticks, a
rebalancing pass each) until the sampled locality is back at the target of the state it
was sampled on (with `room`, TARGET x L* of the state after the tick's pass and time, the
one `Metrics` samples) — 1 when the pass of tick k itself repaired it (that pass runs
after the events, and the sample after its moves ran for one period). A disturbance the
run never recovers from within its remaining ticks counts as not converged.

The rebalancing target: within 3 periods, moving at most 1.25 x the oracle's bytes.
"""

from __future__ import annotations

import copy
import math
import statistics
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, Protocol

from numaplane.bench.cluster import SimCluster
from numaplane.bench.events import TimedEvent
from numaplane.bench.metrics import RunResult, TickSample, summarize
from numaplane.bench.oracle import min_bytes_to_move, oracle_metrics
from numaplane.bench.policies import BenchPolicy
from numaplane.bench.room_oracle import Limits, RoomOracle
from numaplane.bench.runner import Run
from numaplane.bench.scenario import Scenario
from numaplane.bench.timeline import timeline
from numaplane.common.units import GiB
from numaplane.controller.policy.rebalance import RebalanceSettings
from numaplane.controller.policy.types import ClusterView

OracleName = Literal["room", "room-limits", "blind"]
ORACLES: tuple[OracleName, ...] = ("room", "room-limits", "blind")

TARGET = 0.95
SETTLED = 0.95
"""Share of its first quiet stretch's final locality a run must reach to have settled."""
"""Share of the oracle's locality a disturbance must be repaired to."""
PERIODS = 3
"""Periods allowed to get there."""
BYTES_FACTOR = 1.25
"""Most bytes a policy may move, as a multiple of the oracle's lower bound."""


@dataclass(frozen=True)
class Disturbance:
    t: float
    locality: float
    """Locality one tick after the events, without a pass (what they did by themselves)."""
    deficit_bytes: int
    """Bytes of deficit the events created."""
    periods: int | None
    """Periods until locality was back at the target; None: never within the run."""


class TargetOracle(Protocol):
    """What the harness asks an oracle about a state: its target locality and deficit."""

    methods: Counter[str]
    """How many values were found each way (kind: method)."""

    def target(self, view: ClusterView) -> float: ...

    def deficit(self, view: ClusterView) -> int: ...

    def strict_deficit(self, view: ClusterView) -> int: ...


class BlindOracle:
    """The capacity-blind measure: one target for the whole run (TARGET x the scenario
    oracle's locality), D = remote bytes (`min_bytes_to_move`, vCPUs kept)."""

    def __init__(self, target: float) -> None:
        self._target = target
        self.methods: Counter[str] = Counter()

    def target(self, view: ClusterView) -> float:
        return self._target

    def deficit(self, view: ClusterView) -> int:
        self.methods["bound: capacity-blind (min_bytes_to_move, vCPUs kept)"] += 1
        vms = [vm for host in view.hosts for vm in host.vms]
        return min_bytes_to_move(vms, self._target, metric="locality")

    def strict_deficit(self, view: ClusterView) -> int:
        """The blind measure has only the one (it always aimed at the target)."""
        return self.deficit(view)


def make_oracle(name: OracleName, scenario: Scenario, seed: int) -> TargetOracle:
    if name == "room":
        return RoomOracle(TARGET)
    if name == "room-limits":
        s = RebalanceSettings()
        return RoomOracle(TARGET, Limits(s.cpu_overcommit, s.node_headroom_fraction))
    oracle = oracle_metrics(scenario, seed) or {}
    return BlindOracle(TARGET * float(oracle.get("mean_node_set_locality", 1.0)))


@dataclass
class RebalanceRun:
    result: RunResult
    oracle: OracleName = "room"
    targets: list[float] = field(default_factory=list)
    """The target locality of each sampled state (TARGET x its oracle locality)."""
    oracle_methods: dict[str, int] = field(default_factory=dict)
    """How the oracle's values were found (kind: method -> count)."""
    times: list[float] = field(default_factory=list)
    moved_bytes: list[int] = field(default_factory=list)
    """Bytes moved so far, per tick (after the tick)."""
    bound_bytes: list[int] = field(default_factory=list)
    """The oracle's bytes so far (to reach its own locality), per tick."""
    strict_bound_bytes: list[int] = field(default_factory=list)
    """The same to reach only the target (TARGET x the oracle's locality), per tick."""
    disturbances: list[Disturbance] = field(default_factory=list)
    settle_periods: int | None = None
    """Periods from the start until the (per-vCPU) locality first reached 95 % of what it
    had at the end of the first stretch without events (before the next event after the
    start, or the run's end): how fast a rebalancer brings an unmanaged start home."""

    @property
    def oracle_locality(self) -> float | None:
        """Mean over ticks of the oracle's locality of the sampled state."""
        return statistics.fmean(self.targets) / TARGET if self.targets else None

    @property
    def oracle_exact(self) -> bool:
        return all(m.startswith("exact") for m in self.oracle_methods)

    @property
    def gib_moved(self) -> float:
        return self.moved_bytes[-1] / GiB if self.moved_bytes else 0.0

    @property
    def gib_bound(self) -> float:
        return self.bound_bytes[-1] / GiB if self.bound_bytes else 0.0

    @property
    def gib_strict_bound(self) -> float:
        return self.strict_bound_bytes[-1] / GiB if self.strict_bound_bytes else 0.0

    @property
    def bytes_ratio(self) -> float | None:
        """Bytes moved over the oracle's bytes (None when those are 0)."""
        return self.gib_moved / self.gib_bound if self.gib_bound > 0 else None

    @property
    def strict_bytes_ratio(self) -> float | None:
        """Bytes moved over the bytes that reach only the target (None when 0)."""
        return self.gib_moved / self.gib_strict_bound if self.gib_strict_bound > 0 else None

    def converged_within(self, periods: int) -> float | None:
        """Share of disturbances repaired within `periods` (None without disturbances)."""
        if not self.disturbances:
            return None
        ok = sum(1 for d in self.disturbances if d.periods is not None and d.periods <= periods)
        return ok / len(self.disturbances)

    @property
    def median_periods(self) -> float | None:
        done = [d.periods for d in self.disturbances if d.periods is not None]
        return statistics.median(done) if done else None

    @property
    def worst_periods(self) -> int | None:
        """Most periods any disturbance took (None if one never converged)."""
        if not self.disturbances or any(d.periods is None for d in self.disturbances):
            return None
        return max(d.periods for d in self.disturbances if d.periods is not None)

    def record(self) -> dict[str, object]:
        ratio, strict = self.bytes_ratio, self.strict_bytes_ratio
        within = self.converged_within(PERIODS)
        oracle_loc = self.oracle_locality
        return {
            "scenario": self.result.scenario,
            "policy": self.result.policy,
            "oracle": self.oracle,
            "oracle_exact": self.oracle_exact,
            "oracle_methods": dict(self.oracle_methods),
            "mean_locality": round(self.result.mean_locality, 4),
            "oracle_node_set_locality": None if oracle_loc is None else round(oracle_loc, 4),
            "mean_access_locality": round(self.result.mean_access_locality, 4),
            "mean_node_set_locality": round(self.result.mean_node_set_locality, 4),
            "mean_vm_throughput": round(self.result.mean_vm_throughput, 4),
            "p5_vm_throughput": round(self.result.p5_vm_throughput, 4),
            "placements_rejected": self.result.placements_rejected,
            "settle_periods": self.settle_periods,
            "gib_moved": round(self.gib_moved, 2),
            "oracle_gib": round(self.gib_bound, 2),
            "bytes_ratio": None if ratio is None else round(ratio, 2),
            "strict_oracle_gib": round(self.gib_strict_bound, 2),
            "strict_bytes_ratio": None if strict is None else round(strict, 2),
            "meets_strict_target": _meets(within, strict),
            "disturbances": len(self.disturbances),
            "converged_in_3": None if within is None else round(within, 3),
            "median_periods": self.median_periods,
            "worst_periods": self.worst_periods,
            "meets_target": _meets(within, ratio),
            "wall_s": round(self.result.wall_s, 2),
        }


def _meets(within: float | None, ratio: float | None) -> bool | None:
    if within is None:
        return None
    return within == 1.0 and (ratio is None or ratio <= BYTES_FACTOR)


def run_rebalancing(
    scenario: Scenario,
    policy: BenchPolicy,
    *,
    seed: int | None = None,
    oracle: OracleName = "room",
    progress: Callable[[int, int], None] | None = None,
) -> RebalanceRun:
    """`numaplane.bench.runner.run_scenario` with the deficit and bytes moved measured each tick."""
    import time

    started = time.perf_counter()
    seed = scenario.seed if seed is None else seed
    measure = make_oracle(oracle, scenario, seed)
    run = Run(scenario, policy, seed)
    out = RebalanceRun(result=_empty(scenario, policy, seed), oracle=oracle)
    events = timeline(scenario.events, seed, scenario.duration_s)
    ticks = max(1, math.ceil(scenario.duration_s / scenario.tick_s - 1e-9))
    next_event = 0
    bound = strict_bound = 0
    pending: list[tuple[float, float, int, int]] = []  # (t, locality, deficit, tick)
    for k in range(ticks):
        now = k * scenario.tick_s
        run.cluster.now = now
        if next_event < len(events) and events[next_event].at < now + scenario.tick_s:
            before = _one_tick_on(run.cluster, scenario.tick_s)
            while next_event < len(events) and events[next_event].at < now + scenario.tick_s:
                run.apply(events[next_event])
                next_event += 1
            after = _one_tick_on(run.cluster, scenario.tick_s)
            raised = measure.deficit(after) - measure.deficit(before)
            strict_bound += max(0, measure.strict_deficit(after) - measure.strict_deficit(before))
            if raised > 0:
                bound += raised
                pending.append((now, _view_locality(after), raised, k))
        run.rebalance()
        run.cluster.advance(scenario.tick_s)
        run.metrics.record(run.cluster)
        out.targets.append(measure.target(run.cluster.view(claims=False)))
        out.times.append(now + scenario.tick_s)
        out.moved_bytes.append(run.cluster.migrated_bytes)
        out.bound_bytes.append(bound)
        out.strict_bound_bytes.append(strict_bound)
        if progress is not None:
            progress(k + 1, ticks)
    samples = run.metrics.samples
    for t, loc, created, k in pending:
        periods = next(
            (
                j - k + 1
                for j in range(k, len(samples))
                if samples[j].node_set_locality >= out.targets[j] - 1e-9
            ),
            None,
        )
        out.disturbances.append(Disturbance(t, loc, created, periods))
    out.settle_periods = _settle_periods(samples, out.times, events, scenario)
    out.oracle_methods = dict(measure.methods)
    out.result = summarize(
        run.metrics,
        scenario=scenario.name,
        policy=policy.name,
        seed=seed,
        migrated_bytes=run.cluster.migrated_bytes,
        rejections=run.rejections,
        vms_placed=run.placed,
    )
    out.result = _with_wall(out.result, time.perf_counter() - started)
    return out


def _settle_periods(
    samples: list[TickSample], times: list[float], events: list[TimedEvent], scenario: Scenario
) -> int | None:
    """`RebalanceRun.settle_periods`; None for a run whose first stretch has no VM."""
    later = [e.at for e in events if e.at >= scenario.tick_s]
    quiet_end = min(later) if later else scenario.duration_s
    stretch = [j for j, t in enumerate(times) if t <= quiet_end + 1e-9 and samples[j].vms]
    if not stretch:
        return None
    target = SETTLED * samples[stretch[-1]].locality
    return next(j + 1 for j in stretch if samples[j].locality >= target - 1e-9)


def _one_tick_on(cluster: SimCluster, tick_s: float) -> ClusterView:
    """The view of a copy of `cluster` one tick later, with no pass run: what the events
    of this tick (or their absence) do by themselves. A VM that grows, or memory touched
    at a rate, lands during the tick, after the events; a copy advanced with the events
    and one advanced without them differ by the events alone (in-flight moves progress
    in both)."""
    shadow = copy.deepcopy(cluster)
    shadow.advance(tick_s)
    return shadow.view(claims=False)


def _view_locality(view: ClusterView) -> float:
    num = den = 0.0
    for host in view.hosts:
        for vm in host.vms:
            size = sum(vm.memory_by_node.values())
            num += vm.node_set_locality * size
            den += size
    return num / den if den else 1.0


def _empty(scenario: Scenario, policy: BenchPolicy, seed: int) -> RunResult:
    from numaplane.bench.metrics import Metrics

    return summarize(
        Metrics(scenario.model), scenario=scenario.name, policy=policy.name, seed=seed,
        migrated_bytes=0, rejections=(), vms_placed=0,
    )  # fmt: skip


def _with_wall(result: RunResult, wall_s: float) -> RunResult:
    from dataclasses import replace

    return replace(result, wall_s=wall_s)
