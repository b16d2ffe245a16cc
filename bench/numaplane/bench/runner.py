"""Run one policy through one scenario on the simulated cluster, tick by tick.

Each tick of `tick_s` simulated seconds, at time t:
1. events that fall in [t, t + tick_s) are applied in order, so an event at 7 s with 5 s
   ticks happens at 5 s (one at exactly `duration_s` never does); each VM request goes
   to the policy's `place()`;
2. a policy that rebalances gets `plan()` once and its actions are applied, and a
   policy with a kernel step (`numaplane.bench.policies.KernelStep`) runs it for the
   tick; then, with a balloon policy, its targets are applied (`numaplane.bench.balloon`);
3. simulated time advances by `tick_s` (memory is touched, ballooned, migrated);
4. metrics are sampled (`numaplane.bench.kernel_time`: with the kernel time a kernel step
   spent on each VM taken off its throughput).

Requests of a `parallel` burst are decided against one snapshot taken before any of them
starts — the instant at which a toolstack without reservations overfills a node. A policy
that uses claims sees, in each later decision of the burst, the memory the earlier ones
claimed. Other requests are decided one at a time, each after the previous VM started.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from numaplane.bench.balloon import BalloonStep
from numaplane.bench.balloon_metrics import BalloonMetrics
from numaplane.bench.cluster import SimCluster
from numaplane.bench.events import CreateVms, DeleteVm, TimedEvent, VmSpec
from numaplane.bench.kernel_time import KernelTimeMetrics
from numaplane.bench.metrics import RunResult, summarize
from numaplane.bench.policies import BenchPolicy, kernel_step, planner, uses_claims
from numaplane.bench.scenario import Scenario
from numaplane.bench.timeline import timeline
from numaplane.controller.policy.balloon import BalloonPolicy
from numaplane.controller.policy.types import PlacementDecision

Progress = Callable[[int, int], None]
"""Called after each tick with (ticks done, ticks in all)."""


@dataclass
class Waiting:
    """A request no host took yet (`retry` runs): retried every tick until one does."""

    spec: VmSpec
    since: float
    """Simulated time of the request."""
    why: str
    """Why the last attempt failed."""


class Run:
    """The state of one run: the cluster, the policy, and what was rejected.

    With `retry`, a request that fails stays pending and is tried again every tick, in
    request order, until it starts or its VM is deleted — what the controller does with a
    VM that fits nowhere ("placed when room appears"), and what a cluster manager does
    with a failed boot (rescheduling). Every policy gets the same rule. Without it, a
    failed request is dropped, as `xl create` or `virsh start` fails back to its caller.
    """

    def __init__(
        self,
        scenario: Scenario,
        policy: BenchPolicy,
        seed: int,
        balloon: BalloonPolicy | None = None,
        retry: bool = False,
    ) -> None:
        self.scenario = scenario
        self.policy = policy
        self.seed = seed
        self.retry = retry
        self.cluster = SimCluster(scenario, seed)
        self.metrics = KernelTimeMetrics(scenario.model)
        self.rejections: list[tuple[str, str]] = []
        """Requests that never started (with `retry`: known at `finish`)."""
        self.pending: list[Waiting] = []
        self.waits: dict[str, float] = {}
        """VM -> seconds it waited before it started (`retry` runs; deferred VMs only)."""
        self.placed = 0
        self._claims = uses_claims(policy)
        self._plan = planner(policy)
        self._kernel = kernel_step(policy)
        self.balloon = BalloonStep(balloon) if balloon is not None else None
        self.balloon_metrics = BalloonMetrics()

    def apply(self, event: TimedEvent) -> None:
        if isinstance(event, CreateVms):
            if event.parallel:
                self._place_burst(event.vms)
            else:
                for spec in event.vms:
                    decision = self.policy.place(
                        spec.request, self.cluster.view(claims=self._claims)
                    )
                    self._start(spec, decision)
        elif isinstance(event, DeleteVm):
            for w in [w for w in self.pending if w.spec.request.name == event.vm]:
                self.pending.remove(w)
                self.rejections.append((event.vm, f"{w.why} (deleted while pending)"))
            self.cluster.delete(event.vm)
        else:
            self.pending = [
                replace(w, spec=replace(w.spec, workload=event.applied_to(w.spec.workload)))
                if w.spec.request.name == event.vm
                else w
                for w in self.pending
            ]
            self.cluster.change_workload(event)

    def retry_pending(self) -> None:
        """Try every pending request again, oldest first, each against a fresh view."""
        waiting, self.pending = self.pending, []
        for w in waiting:
            decision = self.policy.place(w.spec.request, self.cluster.view(claims=self._claims))
            self._start(w.spec, decision, since=w.since)

    def finish(self) -> None:
        """Requests still pending at the end never started."""
        self.rejections += [(w.spec.request.name, w.why) for w in self.pending]
        self.pending = []

    def _place_burst(self, specs: tuple[VmSpec, ...]) -> None:
        snapshot = self.cluster.view(claims=self._claims)
        pending: dict[str, dict[int, int]] = {}
        decisions = []
        for spec in specs:
            view = self.cluster.view(claims=True, extra=pending) if pending else snapshot
            decision = self.policy.place(spec.request, view)
            decisions.append((spec, decision))
            if self._claims and decision.placement is not None:
                by_node = pending.setdefault(decision.placement.host, {})
                for node, b in decision.placement.memory_by_node.items():
                    by_node[node] = by_node.get(node, 0) + b
        for spec, decision in decisions:
            self._start(spec, decision)

    def _start(self, spec: VmSpec, decision: PlacementDecision, since: float | None = None) -> None:
        if decision.placement is None:
            why = "; ".join(decision.reasons) or "the policy found no placement"
            self._refused(spec, why, since)
            return
        refused = self.cluster.start(spec, decision.placement)
        if refused is not None:
            self._refused(spec, refused, since)
            return
        self.placed += 1
        if since is not None:
            self.waits[spec.request.name] = self.cluster.now - since

    def _refused(self, spec: VmSpec, why: str, since: float | None) -> None:
        if self.retry:
            self.pending.append(Waiting(spec, self.cluster.now if since is None else since, why))
        else:
            self.rejections.append((spec.request.name, why))

    def rebalance(self) -> None:
        """The tick's rebalancing: the policy's plan, then its kernel step."""
        if self._plan is not None:
            for action in self._plan(self.cluster.view(claims=self._claims)):
                self.cluster.apply(action)
        if self._kernel is not None:
            self._kernel(self.cluster, self.scenario.tick_s)


def run_scenario(
    scenario: Scenario,
    policy: BenchPolicy,
    *,
    seed: int | None = None,
    progress: Progress | None = None,
    balloon: BalloonPolicy | None = None,
    retry: bool = False,
) -> RunResult:
    """Run `policy` through `scenario` (seed: the scenario's unless given), with a
    balloon policy when `balloon` is given (`numaplane.bench.balloon`)."""
    started = time.perf_counter()
    seed = scenario.seed if seed is None else seed
    run = Run(scenario, policy, seed, balloon, retry)
    events = timeline(scenario.events, seed, scenario.duration_s)
    ticks = max(1, math.ceil(scenario.duration_s / scenario.tick_s - 1e-9))
    next_event = 0
    for k in range(ticks):
        now = k * scenario.tick_s
        run.cluster.now = now
        while next_event < len(events) and events[next_event].at < now + scenario.tick_s:
            run.apply(events[next_event])
            next_event += 1
        if k > 0:
            run.retry_pending()
        run.rebalance()
        if run.balloon is not None:
            run.balloon(run.cluster)
        run.cluster.advance(scenario.tick_s)
        run.metrics.record(run.cluster)
        if run.balloon is not None:
            run.balloon_metrics.record(run.cluster, run.balloon.reclaimed_bytes, scenario.tick_s)
        if progress is not None:
            progress(k + 1, ticks)
    run.finish()
    result = summarize(
        run.metrics,
        scenario=scenario.name,
        policy=policy.name,
        seed=seed,
        migrated_bytes=run.cluster.migrated_bytes,
        rejections=run.rejections,
        vms_placed=run.placed,
        waits=run.waits,
    )
    summary = (
        run.balloon_metrics.summary(
            run.balloon.policy.name,
            run.balloon.reclaimed_bytes,
            run.balloon.returned_bytes,
            len(run.cluster.hosts),
        )
        if run.balloon is not None
        else None
    )
    return replace(result, wall_s=time.perf_counter() - started, balloon=summary)
