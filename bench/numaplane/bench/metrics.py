"""What a run measures, tick by tick, and the headline numbers it boils down to.

Per tick (after the tick's simulated time has passed):
- locality: the mean of each VM's locality (`numaplane.common.locality`: per vCPU, the
  share of its memory on the node where that vCPU runs, averaged over its vCPUs),
  weighted by resident memory — the figure agents report and the controller shows;
- node-set locality: the share of a VM's memory on the nodes where its vCPUs run,
  weighted the same way. A VM whose vCPUs run on two nodes with its memory spread over
  both scores 1.0 there although each vCPU reaches half of its memory remotely; the
  rebalancing benchmark's oracle and targets are defined on it;
- each VM's relative throughput from `numaplane.bench.model`;
- reservation violations: a VM with a reservation whose memory — its guest size, or what
  the host managed to back if the host ran out — is below the reservation.

Headlines: `mean_locality` (and `mean_node_set_locality`) is the mean over ticks that had
VMs (`mean_access_locality`, the name the per-vCPU figure had when `mean_locality` meant the
node-set one, stays in the JSON as an equal copy for scripts); a VM's throughput is its mean over
the ticks it ran, `mean_vm_throughput` the mean over VMs and `p5_vm_throughput` their 5th percentile
(linear interpolation, as numpy's default); `reservation_violations` counts VMs that were in
violation at least once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from numaplane.bench.balloon_metrics import BalloonSummary
from numaplane.bench.cluster import SimCluster
from numaplane.bench.host_sample import HostSample, sample_host
from numaplane.bench.model import ModelParams
from numaplane.common.units import GiB


@dataclass(frozen=True)
class TickSample:
    t: float
    locality: float
    node_set_locality: float
    mean_throughput: float
    p5_throughput: float
    vms: int


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation between ranks; 0.0 when empty."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q / 100.0
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def _mean(values: Sequence[float], *, empty: float) -> float:
    return sum(values) / len(values) if values else empty


@dataclass
class Metrics:
    """Accumulates samples over a run; host samples are cached until the host changes."""

    params: ModelParams
    samples: list[TickSample] = field(default_factory=list)
    vm_sum: dict[str, float] = field(default_factory=dict)
    vm_ticks: dict[str, int] = field(default_factory=dict)
    violators: set[str] = field(default_factory=set)
    _cache: dict[str, tuple[tuple[int, int], HostSample]] = field(default_factory=dict)

    def record(self, cluster: SimCluster) -> None:
        num = node_set = den = 0.0
        throughputs: list[float] = []
        for name, host in cluster.hosts.items():
            key = (host.version, cluster.workload_epoch[name])
            cached = self._cache.get(name)
            if cached is None or cached[0] != key:
                cached = (key, sample_host(cluster, host, self.params))
                self._cache[name] = cached
            sample = cached[1]
            for vm in sample.vms:
                num += vm.locality * vm.resident_bytes
                node_set += vm.node_set_locality * vm.resident_bytes
                den += vm.resident_bytes
                throughputs.append(vm.throughput)
                self.vm_sum[vm.name] = self.vm_sum.get(vm.name, 0.0) + vm.throughput
                self.vm_ticks[vm.name] = self.vm_ticks.get(vm.name, 0) + 1
            self.violators |= sample.violating
        self.samples.append(
            TickSample(
                t=cluster.now,
                locality=num / den if den else 1.0,
                node_set_locality=node_set / den if den else 1.0,
                mean_throughput=sum(throughputs) / len(throughputs) if throughputs else 0.0,
                p5_throughput=percentile(throughputs, 5),
                vms=len(throughputs),
            )
        )

    def per_vm_throughput(self) -> dict[str, float]:
        return {vm: self.vm_sum[vm] / self.vm_ticks[vm] for vm in self.vm_sum}


@dataclass(frozen=True)
class RunResult:
    scenario: str
    policy: str
    seed: int
    mean_locality: float
    mean_node_set_locality: float
    mean_vm_throughput: float
    p5_vm_throughput: float
    gib_migrated: float
    placements_rejected: int
    reservation_violations: int
    vms_placed: int
    samples: tuple[TickSample, ...]
    wall_s: float = 0.0
    rejections: tuple[tuple[str, str], ...] = ()
    """(VM, why) for each rejected placement, in order."""
    balloon: BalloonSummary | None = None
    """What the run's balloon policy did, when it had one (`numaplane.bench.balloon_metrics`)."""
    placements_deferred: int = 0
    """Requests that failed at first and started later (runs with pending retries)."""
    mean_wait_s: float = 0.0
    """Mean simulated seconds the deferred requests waited before they started."""

    @property
    def mean_access_locality(self) -> float:
        """The per-vCPU figure under its older name (`mean_locality` now means the same)."""
        return self.mean_locality

    def headline(self) -> dict[str, Any]:
        """The JSON fields of `numaplane-bench run --output json` (without the oracle)."""
        return {
            "scenario": self.scenario,
            "policy": self.policy,
            "seed": self.seed,
            "mean_locality": round(self.mean_locality, 6),
            "mean_access_locality": round(self.mean_access_locality, 6),
            "mean_node_set_locality": round(self.mean_node_set_locality, 6),
            "p5_vm_throughput": round(self.p5_vm_throughput, 6),
            "mean_vm_throughput": round(self.mean_vm_throughput, 6),
            "gib_migrated": round(self.gib_migrated, 6),
            "placements_rejected": self.placements_rejected,
            "reservation_violations": self.reservation_violations,
            "vms_placed": self.vms_placed,
            "placements_deferred": self.placements_deferred,
            "mean_wait_s": round(self.mean_wait_s, 3),
            "wall_s": round(self.wall_s, 3),
            **(self.balloon.headline() if self.balloon is not None else {}),
        }


def summarize(
    metrics: Metrics,
    *,
    scenario: str,
    policy: str,
    seed: int,
    migrated_bytes: int,
    rejections: Iterable[tuple[str, str]],
    vms_placed: int,
    waits: Mapping[str, float] | None = None,
) -> RunResult:
    with_vms = [s for s in metrics.samples if s.vms]
    per_vm = list(metrics.per_vm_throughput().values())
    rejected = tuple(rejections)
    return RunResult(
        scenario=scenario,
        policy=policy,
        seed=seed,
        mean_locality=_mean([s.locality for s in with_vms], empty=1.0),
        mean_node_set_locality=_mean([s.node_set_locality for s in with_vms], empty=1.0),
        mean_vm_throughput=_mean(per_vm, empty=0.0),
        p5_vm_throughput=percentile(per_vm, 5),
        gib_migrated=migrated_bytes / GiB,
        placements_rejected=len(rejected),
        reservation_violations=len(metrics.violators),
        vms_placed=vms_placed,
        samples=tuple(metrics.samples),
        rejections=rejected,
        placements_deferred=len(waits or {}),
        mean_wait_s=_mean(list((waits or {}).values()), empty=0.0),
    )
