"""The kernel's automatic NUMA balancing: whether it is on, and what it says of a VM.

`/proc/sys/kernel/numa_balancing` holds the mode (0 off, 1 on, 2 memory tiering only,
3 both; see the kernel's admin-guide/sysctl/kernel.rst). It is absent on a kernel
without CONFIG_NUMA_BALANCING, and from fixture proc trees: the host then does not say
(None).

Where balancing is on, the kernel keeps per-task statistics, printed at the end of
`/proc/<pid>/task/<tid>/sched` (CONFIG_SCHED_DEBUG; kernel/sched/debug.c,
`sched_show_numa`):

    mm->numa_scan_seq                            :                    7
    numa_pages_migrated                          :                 8192
    numa_preferred_nid                           :                    1
    total_numa_faults                            :                  412
    current_node=1, numa_group_id=0
    numa_faults node=0 task_private=3 task_shared=0 group_private=0 group_shared=0
    numa_faults node=1 task_private=409 task_shared=0 group_private=0 group_shared=0

`numa_faults node=N` counts the task's NUMA hinting faults on memory that sits on node N
(after any migration the fault caused), private and shared, halved at every scan (so they
describe the last few scan periods); `current_node` is the node of the CPU the task is
on; `numa_preferred_nid` is the node the scheduler tries to run it on (-1: none yet);
`numa_pages_migrated` counts the pages migrated on its faults since it started.

What the agent does with them, per VM (`vm_kernel_numa`, over its vCPU threads):

- it reports them beside the VM's locality as `KernelNumaStats`: the node most vCPU
  threads prefer, the hinting faults and how many of them were on memory local to the
  node where the faulting thread runs (the kernel's *access*-weighted locality: the hot
  memory counts, idle memory not at all), and the pages the kernel migrated;
- it does not mix them into the VM's locality, which stays the sampled per-vCPU share of
  resident memory (`numaplane.common.locality`). The fault counts are samples of
  accesses, decayed, and exist only while the kernel scans; numaplane's figure is
  defined on every host, with balancing on or off, and is what the rebalancer's
  thresholds mean. Side by side they answer a question neither answers alone: a VM whose
  memory is mostly remote but whose faults are local has its working set at home.
- it reads them only when the mode has bit 1 set (balancing proper): with it off the
  counters stop and keep whatever they held, which would describe the past.

`/proc/<pid>/sched` is debugging output, not an ABI (its lines have changed between
kernel versions; very old kernels printed the private and shared counts swapped), so it
is parsed leniently: lines it does not recognise are skipped, a thread without the NUMA
lines (a kernel without CONFIG_NUMA_BALANCING) or without the file (no
CONFIG_SCHED_DEBUG), or one that exited, contributes nothing, and a VM none of whose
threads has figures gets None. The sum over tasks uses the task counts only: the group
counts are the whole numa_group's, the same in every thread, and would count each fault
once per thread.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from numaplane.common.vm import KernelNumaStats
from numaplane.hostagent.collectors.host_files import (
    HostFileError,
    ProcessGone,
    read_optional,
    read_process_file,
)

NUMA_BALANCING_FILE = "sys/kernel/numa_balancing"
"""Under the proc root."""
NUMA_BALANCING_NORMAL = 1
"""The mode bit of balancing proper (2 is memory tiering)."""

_KEY_VALUE = re.compile(r"^\s*([\w>.-]+)\s*:\s*(-?\d+)\s*$")
_CURRENT_NODE = re.compile(r"^\s*current_node=(-?\d+)")
_FAULTS = re.compile(r"^\s*numa_faults\s+node=(\d+)\s+(.*)$")
_COUNT = re.compile(r"(\w+)=(\d+)")


def read_numa_balancing(proc_root: Path) -> int | None:
    """The kernel's NUMA balancing mode; None when the file does not exist.

    HostFileError when it exists but is unreadable or not a number: an operator should
    look at such a host.
    """
    path = proc_root / NUMA_BALANCING_FILE
    text = read_optional(path)
    if text is None:
        return None
    try:
        mode = int(text.strip())
    except ValueError:
        raise HostFileError(path, f"not a number: {text.strip()[:40]!r}") from None
    if mode < 0:
        raise HostFileError(path, f"negative mode {mode}")
    return mode


def balancing_on(mode: int | None) -> bool:
    """Whether the mode turns on balancing proper (1 or 3)."""
    return mode is not None and bool(mode & NUMA_BALANCING_NORMAL)


@dataclass(frozen=True)
class TaskNuma:
    """One task's NUMA balancing statistics, as its sched file prints them."""

    preferred_node: int | None = None
    """`numa_preferred_nid`; None for -1 (no preference yet) or when not printed."""
    current_node: int | None = None
    pages_migrated: int = 0
    faults_by_node: Mapping[int, int] = field(default_factory=dict)
    """Task faults (private + shared) per node of the faulted memory."""


def parse_sched_numa(text: str) -> TaskNuma | None:
    """The NUMA part of a sched file; None when it has none (see the module docstring)."""
    seen = False
    preferred: int | None = None
    current: int | None = None
    migrated = 0
    faults: dict[int, int] = {}
    for line in text.splitlines():
        if m := _FAULTS.match(line):
            counts = {k: int(v) for k, v in _COUNT.findall(m.group(2))}
            task = [counts[k] for k in ("task_private", "task_shared") if k in counts]
            if task:
                node = int(m.group(1))
                faults[node] = faults.get(node, 0) + sum(task)
                seen = True
        elif m := _CURRENT_NODE.match(line):
            current = int(m.group(1)) if int(m.group(1)) >= 0 else None
            seen = True
        elif m := _KEY_VALUE.match(line):
            key, value = m.group(1), int(m.group(2))
            if key == "numa_preferred_nid":
                preferred = value if value >= 0 else None
                seen = True
            elif key == "numa_pages_migrated":
                migrated = max(0, value)
                seen = True
    if not seen:
        return None
    return TaskNuma(
        preferred_node=preferred, current_node=current, pages_migrated=migrated,
        faults_by_node=faults,
    )  # fmt: skip


def read_task_numa(pid: int, tid: int, proc_root: Path) -> TaskNuma | None:
    """The statistics of one thread; None when it has none, cannot be read, or exited."""
    path = proc_root / str(pid) / "task" / str(tid) / "sched"
    try:
        return parse_sched_numa(read_process_file(path))
    except (ProcessGone, HostFileError):
        return None


def vm_kernel_numa(tasks: Iterable[TaskNuma | None]) -> KernelNumaStats | None:
    """One VM's figures from its vCPU threads' (None: no thread has any)."""
    found = [t for t in tasks if t is not None]
    if not found:
        return None
    votes = Counter(t.preferred_node for t in found if t.preferred_node is not None)
    # The node most threads prefer; a tie goes to the lower node id.
    preferred = min(votes, key=lambda n: (-votes[n], n)) if votes else None
    faults = sum(sum(t.faults_by_node.values()) for t in found)
    local = sum(
        t.faults_by_node.get(t.current_node, 0) for t in found if t.current_node is not None
    )
    return KernelNumaStats(
        preferred_node=preferred,
        faults=faults,
        local_faults=local,
        pages_migrated=sum(t.pages_migrated for t in found),
    )
