"""Which threads of a VM process are its vCPUs.

QEMU started with `-name ...,debug-threads=on` (libvirt always does this) names each vCPU
thread "CPU <n>/KVM" (or "CPU <n>/TCG" without KVM). When a process has such threads,
they are its vCPUs, ordered by <n>. Otherwise every thread counts: that is the right
answer for a plain process standing in for a VM, and the best one available for a QEMU
without thread names (its I/O threads are then counted as vCPUs too).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from numaplane.hostagent.collectors.process_threads import TaskStat

DEFAULT_VCPU_THREAD_PREFIX = "CPU "
_INDEX = re.compile(r"^(\d+)")


def select_vcpu_threads(
    threads: Sequence[TaskStat], prefix: str = DEFAULT_VCPU_THREAD_PREFIX
) -> list[TaskStat]:
    """The vCPU threads among `threads`: named ones in vCPU order, else all by thread id."""
    named = [t for t in threads if t.comm.startswith(prefix)]
    if not named:
        return sorted(threads, key=lambda t: t.tid)
    return sorted(named, key=lambda t: (_vcpu_index(t.comm[len(prefix) :]), t.tid))


def _vcpu_index(rest: str) -> int:
    """The <n> of "CPU <n>/KVM"; unnumbered names sort last."""
    m = _INDEX.match(rest)
    return int(m.group(1)) if m else 1 << 30
