"""What a balloon policy achieves in a run, tick by tick and in headline numbers.

Per tick (after the tick's simulated time has passed):
- host free memory: the lowest share of free memory over hosts, and over NUMA nodes
  (with memory), and the mean over hosts;
- pressure: a host is under pressure while its free share, or any of its nodes', is
  below `PRESSURE` (20 %, MOM's and numaplane's default line — the same yardstick for
  every policy, whatever its own settings);
- swap: a swap event is a VM, in one tick, whose guest pushed more of its working set
  to swap (its balloon or its workload outgrew its memory), or whose working set the
  host could not back where it had been backed the tick before.

Headlines: `min_free` and `mean_free` (over ticks, of the host figures above),
`gib_reclaimed` (every balloon decrease the policy asked for, summed), `relieve_s`
(mean length of the pressure episodes that ended: how long the policy took to bring a
host back above the line), `unrelieved` (episodes still open at the end),
`pressure_s` (host-seconds under pressure, per host), `swap_events`,
`gib_swapped_out`. Reservation violations are the run's own metric (`numaplane.bench.metrics`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from numaplane.bench.cluster import SimCluster
from numaplane.common.units import GiB
from numaplane.hostagent.drivers.sim.vm import SimVmState

PRESSURE = 0.20


@dataclass(frozen=True)
class BalloonSample:
    t: float
    min_host_free: float
    min_node_free: float
    mean_host_free: float
    reclaimed_gib: float
    """Cumulative balloon decreases asked for so far."""
    swap_events: int
    """Cumulative."""


@dataclass(frozen=True)
class BalloonSummary:
    policy: str
    min_free: float
    mean_free: float
    gib_reclaimed: float
    gib_returned: float
    relieve_s: float | None
    unrelieved: int
    pressure_s: float
    swap_events: int
    gib_swapped_out: float
    samples: tuple[BalloonSample, ...] = ()

    def headline(self) -> dict[str, Any]:
        return {
            "balloon": self.policy,
            "min_free": round(self.min_free, 4),
            "mean_free": round(self.mean_free, 4),
            "gib_reclaimed": round(self.gib_reclaimed, 3),
            "gib_returned": round(self.gib_returned, 3),
            "relieve_s": None if self.relieve_s is None else round(self.relieve_s, 1),
            "unrelieved": self.unrelieved,
            "pressure_s": round(self.pressure_s, 1),
            "swap_events": self.swap_events,
            "gib_swapped_out": round(self.gib_swapped_out, 3),
        }


@dataclass
class BalloonMetrics:
    samples: list[BalloonSample] = field(default_factory=list)
    swap_events: int = 0
    swapped_bytes: int = 0
    episodes: list[float] = field(default_factory=list)
    pressure_s: float = 0.0
    _since: dict[str, float] = field(default_factory=dict)
    _swapped: dict[str, int] = field(default_factory=dict)
    _host_swapping: set[str] = field(default_factory=set)
    _last_t: float = 0.0

    def record(self, cluster: SimCluster, reclaimed_bytes: int, tick_s: float) -> None:
        host_free: list[float] = []
        node_free: list[float] = []
        for name, host in cluster.hosts.items():
            topology = host.topology()
            total = sum(n.memory_total_bytes for n in topology.nodes)
            frac = sum(n.memory_free_bytes for n in topology.nodes) / total if total else 1.0
            nodes = [n.memory_free_bytes / n.memory_total_bytes for n in topology.nodes
                     if n.memory_total_bytes > 0]
            host_free.append(frac)
            node_free.extend(nodes)
            pressed = frac < PRESSURE or any(f < PRESSURE for f in nodes)
            self._track(name, pressed, cluster.now, tick_s)
            self._count_swap(host.vms())
        self._last_t = cluster.now
        self.samples.append(
            BalloonSample(
                t=cluster.now,
                min_host_free=min(host_free, default=1.0),
                min_node_free=min(node_free, default=1.0),
                mean_host_free=sum(host_free) / len(host_free) if host_free else 1.0,
                reclaimed_gib=reclaimed_bytes / GiB,
                swap_events=self.swap_events,
            )
        )

    def _track(self, host: str, pressed: bool, now: float, tick_s: float) -> None:
        if pressed:
            self.pressure_s += tick_s
            self._since.setdefault(host, now - tick_s)
        elif host in self._since:
            self.episodes.append(now - tick_s - self._since.pop(host))

    def _count_swap(self, states: Iterable[SimVmState]) -> None:
        for s in states:
            if s.state != "running":
                continue
            before = self._swapped.get(s.name, s.swapped_out_total_bytes)
            grew = s.swapped_out_total_bytes > before
            self.swapped_bytes += max(0, s.swapped_out_total_bytes - before)
            self._swapped[s.name] = s.swapped_out_total_bytes
            host_swap = s.host_swap_bytes > 0
            newly = host_swap and s.name not in self._host_swapping
            if host_swap:
                self._host_swapping.add(s.name)
            else:
                self._host_swapping.discard(s.name)
            if grew or newly:
                self.swap_events += 1

    def summary(self, policy: str, reclaimed: int, returned: int, hosts: int) -> BalloonSummary:
        return BalloonSummary(
            policy=policy,
            min_free=min((s.min_node_free for s in self.samples), default=1.0),
            mean_free=(sum(s.mean_host_free for s in self.samples) / len(self.samples)
                       if self.samples else 1.0),
            gib_reclaimed=reclaimed / GiB,
            gib_returned=returned / GiB,
            relieve_s=sum(self.episodes) / len(self.episodes) if self.episodes else None,
            unrelieved=len(self._since),
            pressure_s=self.pressure_s / max(1, hosts),
            swap_events=self.swap_events,
            gib_swapped_out=self.swapped_bytes / GiB,
            samples=tuple(self.samples),
        )
