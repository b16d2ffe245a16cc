"""Small formatting rules for people: CPU lists, percentages, ages, clock times."""

from __future__ import annotations

import time
from collections.abc import Iterable

from numaplane.common.units import format_size

__all__ = ["age", "clock", "count", "cpulist", "format_size", "percent"]


def cpulist(cpus: Iterable[int]) -> str:
    """Kernel cpulist notation: [0, 1, 2, 3, 8] -> "0-3,8"; empty -> "-"."""
    ids = sorted(set(cpus))
    if not ids:
        return "-"
    ranges: list[str] = []
    start = prev = ids[0]
    for cpu in [*ids[1:], None]:
        if cpu is not None and cpu == prev + 1:
            prev = cpu
            continue
        ranges.append(str(start) if start == prev else f"{start}-{prev}")
        if cpu is not None:
            start = prev = cpu
    return ",".join(ranges)


def percent(fraction: float) -> str:
    return f"{fraction * 100:.0f}%"


def age(at: float, now: float | None = None) -> str:
    """How long ago `at` (seconds since the epoch) was: "4s ago", "3m ago"; 0 -> "never"."""
    if not at:
        return "never"
    seconds = max(0.0, (time.time() if now is None else now) - at)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{int(seconds // size)}{unit} ago"
    return f"{int(seconds)}s ago"


def clock(at: float) -> str:
    """Local wall-clock time of day, for event lines."""
    return time.strftime("%H:%M:%S", time.localtime(at)) if at else "--:--:--"


def count(n: int, noun: str) -> str:
    """ "1 VM", "3 VMs", "1 vCPU", "0 CPUs"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"
