"""Where each VM's vCPU threads are now: the cheap read the agent repeats between reports.

A report reads a VM's numa_maps, which walks its whole address space, once per interval;
where its vCPUs run changes much faster. So between reports the agent re-reads only the
stat file of each vCPU thread that the last observation found (`VcpuThreads`) — field 39,
the CPU the thread is on or last ran on — and nothing else: no listing of /proc or of
task/, no numa_maps. A VM or a thread that starts after that observation is first seen
by the next one; one that exits in between (or is a zombie) is left out of the sample,
not an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numaplane.hostagent.collectors.host_files import ProcessGone
from numaplane.hostagent.collectors.process_threads import read_task_stat


@dataclass(frozen=True)
class VcpuThreads:
    """The vCPU threads of one VM process, as an observation found them."""

    pid: int
    tids: tuple[int, ...]
    """In vCPU order."""


def read_vcpu_cpus(
    threads: Mapping[str, VcpuThreads], proc_root: Path
) -> dict[str, tuple[int, ...]]:
    """The CPU each live vCPU thread of each VM is on now, by VM name; a VM none of whose
    threads is left is left out. HostFileError when a stat file cannot be read."""
    out: dict[str, tuple[int, ...]] = {}
    for name, vm in threads.items():
        cpus = []
        for tid in vm.tids:
            try:
                stat = read_task_stat(vm.pid, tid, proc_root)
            except ProcessGone:
                continue
            if stat.tid == tid and not stat.exited:
                cpus.append(stat.last_cpu)
        if cpus:
            out[name] = tuple(cpus)
    return out
