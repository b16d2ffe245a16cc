"""What one ingest-benchmark window measures, and how a row is derived from two windows.

A row pairs two runs of the same fleet for the same time: against the controller and
against a sink. Figures about ingestion come from the controller run; the controller's
CPU is the difference of the two runs' process CPU (see numaplane.bench.ingest).
"""

from __future__ import annotations

import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Window:
    """One measured window of one run."""

    wall_s: float
    process_cpu_s: float
    """CPU of this whole process (every thread: event loop, gRPC, worker threads)."""
    loop_cpu_s: float
    """CPU of the event-loop thread alone: near wall_s means the loop is saturated."""
    reports: int
    etcd_cpu_s: float = 0.0
    store_writes: int = 0
    latencies_s: tuple[float, ...] = ()
    reconnects: int = 0
    """Agent sessions started during the window: more than none means streams broke."""
    note: str = ""
    """Why the figures may not describe a steady state (the fleet never got ready)."""


@dataclass(frozen=True)
class Row:
    agents: int
    sink: Window
    controller: Window

    @property
    def controller_cpu_pct(self) -> float:
        net = self.controller.process_cpu_s / self.controller.wall_s - (
            self.sink.process_cpu_s / self.sink.wall_s)
        return 100 * net

    def record(self) -> dict[str, object]:
        c = self.controller
        lat = sorted(c.latencies_s)
        return {
            "agents": self.agents,
            "reports_per_s": c.reports / c.wall_s,
            "etcd_writes_per_s": c.store_writes / c.wall_s,
            "writes_per_report": c.store_writes / c.reports if c.reports else 0.0,
            "controller_cpu_pct": self.controller_cpu_pct,
            "process_cpu_pct_controller_run": 100 * c.process_cpu_s / c.wall_s,
            "process_cpu_pct_sink_run": 100 * self.sink.process_cpu_s / self.sink.wall_s,
            "loop_busy_pct": 100 * c.loop_cpu_s / c.wall_s,
            "etcd_cpu_pct": 100 * c.etcd_cpu_s / c.wall_s,
            "latency_p50_ms": 1000 * percentile(lat, 0.50),
            "latency_p99_ms": 1000 * percentile(lat, 0.99),
            "latency_samples": len(lat),
            "reconnects": c.reconnects,
            "sink_reports_per_s": self.sink.reports / self.sink.wall_s,
            "notes": [n for n in (self.sink.note, c.note) if n],
        }


def percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest-rank percentile of sorted samples (NaN when there are none)."""
    if not ordered:
        return math.nan
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def machine() -> str:
    """Cores and CPU model (from /proc/cpuinfo), Python and kernel: for the table."""
    model = "unknown CPU"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    usable = len(os.sched_getaffinity(0))
    return (f"{usable} usable cores ({os.cpu_count()} online), {model}; "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def proc_cpu_s(pid: int | None) -> float:
    """User + system CPU seconds of another process, from /proc/<pid>/stat."""
    if pid is None:
        return 0.0
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Meter:
    """Wall clock and CPU (this process, its loop thread, one other process) over a window."""

    def __init__(self, other_pid: int | None = None) -> None:
        self._pid = other_pid
        self._t = (0.0, 0.0, 0.0, 0.0)

    def start(self) -> None:
        self._t = (time.perf_counter(), time.process_time(), time.thread_time(),
                   proc_cpu_s(self._pid))

    def stop(
        self, reports: int, *, store_writes: int = 0, latencies_s: tuple[float, ...] = (),
        reconnects: int = 0, note: str = "",
    ) -> Window:
        wall, cpu, loop, other = self._t
        return Window(
            wall_s=time.perf_counter() - wall, process_cpu_s=time.process_time() - cpu,
            loop_cpu_s=time.thread_time() - loop, reports=reports,
            etcd_cpu_s=proc_cpu_s(self._pid) - other, store_writes=store_writes,
            latencies_s=latencies_s, reconnects=reconnects, note=note,
        )
