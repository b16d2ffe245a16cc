"""How fast the kernel scans a VM's memory: the scan period and how it adapts.

After kernel/sched/fair.c. The scanner (task_numa_work) marks `scan_size_mb` of resident
pages per scan period; a VM of R bytes holds ceil(R / scan size) windows
(task_nr_scan_windows), so one pass over its memory takes windows x period. The period
of a window lies between

- task_scan_min: scan_period_min / windows, but never below the floor that keeps the
  scanner under MAX_SCAN_WINDOW (2560 MB/s), and
- task_scan_max: scan_period_max / windows, stretched for a numa group by the number of
  its tasks and the share of its faults that are shared (tasks that share memory are
  each scanned less often, since one scan of the shared mm serves all of them);

it starts at task_scan_start (the minimum, stretched the same way for a group) and, after
every pass, update_task_scan_period moves it in tenths (NUMA_PERIOD_SLOTS) of itself:
slower when most faults were private or local (at least 7 in 10, NUMA_PERIOD_THRESHOLD),
faster otherwise, and twice as slow after a pass with no local or shared fault or with a
failed migration. The branch order and the `local + shared == 0` test are the kernel's
as written (the comments in fair.c name the two ratios the other way round).

Periods are whole milliseconds, as in the kernel, so that the slot arithmetic rounds as
it does there; fault counts are pages (4 KiB), fractional because the model works with
expected values.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numaplane.bench.autonuma.settings import AutoNumaSettings

MAX_SCAN_WINDOW_MB = 2560
"""fair.c: "never scan more PTEs than MAX_SCAN_WINDOW MB/sec"."""
NUMA_PERIOD_SLOTS = 10
NUMA_PERIOD_THRESHOLD = 7
"""fair.c: the period moves in tenths; "aim for 70% local accesses"."""


@dataclass(frozen=True)
class Sharing:
    """What task_scan_max/start read of a numa group: its tasks and its decayed
    private and shared fault counts (pages)."""

    tasks: int
    shared: float
    private: float

    def stretch(self, period_ms: int) -> int:
        """period x tasks x (shared + 1) / (private + shared + 1), as fair.c rounds it."""
        return int(period_ms * self.tasks * (self.shared + 1) // (self.private + self.shared + 1))


def scan_windows(resident_bytes: float, settings: AutoNumaSettings) -> int:
    """task_nr_scan_windows: scan windows the resident memory holds (at least one)."""
    size = settings.scan_size_bytes
    return max(1, math.ceil(resident_bytes / size)) if resident_bytes > 0 else 1


def scan_period_min(resident_bytes: float, settings: AutoNumaSettings) -> int:
    """task_scan_min, ms per window."""
    windows_per_s = MAX_SCAN_WINDOW_MB // settings.scan_size_mb if (
        settings.scan_size_mb < MAX_SCAN_WINDOW_MB
    ) else 1
    floor = 1000 // max(1, windows_per_s)
    return max(floor, settings.scan_period_min_ms // scan_windows(resident_bytes, settings))


def scan_period_max(
    resident_bytes: float, settings: AutoNumaSettings, sharing: Sharing | None
) -> int:
    """task_scan_max, ms per window."""
    smin = scan_period_min(resident_bytes, settings)
    smax = settings.scan_period_max_ms // scan_windows(resident_bytes, settings)
    if sharing is not None:
        smax = max(smax, sharing.stretch(smax))
    return max(smin, smax)


def scan_period_start(
    resident_bytes: float, settings: AutoNumaSettings, sharing: Sharing | None
) -> int:
    """task_scan_start, ms per window: the period a task's first scan uses."""
    smin = scan_period_min(resident_bytes, settings)
    period = sharing.stretch(smin) if sharing is not None else smin
    return max(smin, period)


@dataclass(frozen=True)
class PassFaults:
    """A pass's hinting faults as update_task_scan_period reads them (pages)."""

    local: float
    remote: float
    failed: float
    """Faults whose page should have moved and could not (TNF_MIGRATE_FAIL)."""
    shared: float
    private: float


def _tenths(part: float, whole: float) -> int:
    """part * 10 / whole rounded down as the kernel's integer division does (with a
    margin for the float error of expected values)."""
    return math.floor(part * NUMA_PERIOD_SLOTS / whole + 1e-9)


def adapt_period(period_ms: int, faults: PassFaults, lowest: int, highest: int) -> int:
    """update_task_scan_period: the next window period after a pass."""
    if faults.local + faults.shared <= 0 or faults.failed > 0:
        return min(highest, period_ms * 2)
    slot = -(-period_ms // NUMA_PERIOD_SLOTS)  # DIV_ROUND_UP
    lr_ratio = _tenths(faults.local, faults.local + faults.remote)
    ps_ratio = _tenths(faults.private, faults.private + faults.shared)
    if ps_ratio >= NUMA_PERIOD_THRESHOLD:
        diff = max(1, ps_ratio - NUMA_PERIOD_THRESHOLD) * slot
    elif lr_ratio >= NUMA_PERIOD_THRESHOLD:
        diff = max(1, lr_ratio - NUMA_PERIOD_THRESHOLD) * slot
    else:
        diff = -(NUMA_PERIOD_THRESHOLD - max(lr_ratio, ps_ratio)) * slot
    return min(highest, max(lowest, period_ms + diff))
