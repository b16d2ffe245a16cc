"""Moving a process's memory between NUMA nodes on a real Linux host, at a bounded rate.

How, and why this way:

- **move_pages(2), in chunks.** `migrate_pages(2)` moves a whole process in one call at
  whatever speed the kernel manages — a 64 GiB VM would take the host's memory bandwidth
  for tens of seconds. Instead the mover walks the process's mappings that have pages
  outside the target nodes (`page_ranges`), 512 pages at a time: it asks the kernel where
  each page is (`move_pages` without nodes), moves those outside the targets (each to the
  target node nearest its source with room, largest free first), and counts the pages the
  kernel reports on a target afterwards. A transparent huge page moves whole with its
  first address; the count sees all of it.
- **Rate.** After each chunk the mover sleeps until `bytes moved / rate` seconds have
  passed since it began (a token bucket without burst), so the average never exceeds
  the rate; the sleep is a wait on the cancel event, so stopping is immediate.
- **vCPUs first.** With `rebind_vcpus`, the vCPU threads are bound to the targets' CPUs
  (sched_setaffinity) *before* the copy, so pages the guest touches meanwhile are
  allocated on the targets (first touch) instead of behind the copy.
- **Resumable.** Only pages outside the targets are touched: run again after an
  interruption, it moves what is left, and nothing twice.

What it does not do: change the process's memory policy for future pages (a process's
policy can only be set from inside it; libvirt does it with the cpuset cgroup) — a VM
whose vCPUs are bound to the targets allocates there by first touch anyway.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from numaplane.common.topology import Topology
from numaplane.common.units import MiB, format_size
from numaplane.hostagent.collectors.host_files import HostFileError, ProcessGone
from numaplane.hostagent.collectors.numa_maps import system_page_size
from numaplane.hostagent.collectors.process_threads import list_thread_ids, read_task_stat
from numaplane.hostagent.collectors.sysfs_topology import read_free_by_node
from numaplane.hostagent.collectors.vcpu_threads import select_vcpu_threads
from numaplane.hostagent.drivers.contract import (
    BackendError,
    MemoryMigration,
    MoveCancelled,
    MoveError,
    Mover,
    Progress,
)
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.linux.numa_syscalls import NumaSyscallError, move_pages
from numaplane.hostagent.drivers.linux.page_ranges import read_page_ranges

log = logging.getLogger(__name__)

CHUNK_PAGES = 512
"""Pages per move_pages call: 2 MiB of 4 KiB pages, small enough to pace the rate."""
HEADROOM_BYTES = 64 * MiB
"""Free memory left on each target node (the kernel's reserves)."""


class PageMover:
    """Moves the pages of one process into a node set, at most `rate` bytes per second."""

    def __init__(
        self,
        pid: int,
        to_nodes: frozenset[int],
        topology: Topology,
        free_by_node: dict[int, int],
        *,
        proc_root: Path = Path("/proc"),
        chunk_pages: int = CHUNK_PAGES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.pid = pid
        self.to_nodes = to_nodes
        self.topology = topology
        self.room = {n: max(0, free_by_node.get(n, 0) - HEADROOM_BYTES) for n in to_nodes}
        self.proc_root = proc_root
        self.chunk_pages = chunk_pages
        self.clock = clock
        self.moved_bytes = 0

    def run(self, rate: float, progress: Progress, cancel: threading.Event) -> int:
        """Move everything outside the targets; the bytes moved. Raises MoveCancelled."""
        ranges = read_page_ranges(self.pid, self.proc_root, system_page_size())
        todo = [r for r in ranges if r.pages_outside(self.to_nodes)]
        total = sum(r.pages_outside(self.to_nodes) * r.page_size for r in todo)
        started = self.clock()
        progress(0, total, f"{format_size(total)} outside nodes {_ids(self.to_nodes)}")
        for page_range in todo:
            for chunk in page_range.addresses(self.chunk_pages):
                if cancel.is_set():
                    raise MoveCancelled(
                        f"stopped after {format_size(self.moved_bytes)} of {format_size(total)}"
                    )
                self.moved_bytes += self._move_chunk(chunk, page_range.page_size)
                progress(self.moved_bytes, total, "")
                if rate > 0:
                    ahead = self.moved_bytes / rate - (self.clock() - started)
                    if ahead > 0 and cancel.wait(ahead):
                        continue  # cancelled: the check at the top of the loop raises
        return self.moved_bytes

    def _move_chunk(self, addresses: list[int], page_size: int) -> int:
        where = move_pages(self.pid, addresses)
        pages, nodes = [], []
        for address, node in zip(addresses, where, strict=True):
            if node < 0 or node in self.to_nodes:
                continue  # not present (-ENOENT, -EFAULT) or already there
            target = self._target_for(node, page_size)
            if target is None:
                raise MoveError(
                    f"nodes {_ids(self.to_nodes)} are full after {format_size(self.moved_bytes)}"
                )
            pages.append(address)
            nodes.append(target)
        if not pages:
            return 0
        after = move_pages(self.pid, pages, nodes)
        moved = sum(1 for node in after if node in self.to_nodes)
        # Pages that could not move (-EBUSY, shared) give their room back.
        for target, node in zip(nodes, after, strict=True):
            if node not in self.to_nodes:
                self.room[target] += page_size
        return moved * page_size

    def _target_for(self, source: int, page_size: int) -> int | None:
        candidates = [n for n in self.to_nodes if self.room[n] >= page_size]
        if not candidates:
            return None
        best = min(
            candidates, key=lambda n: (self.topology.distance(source, n), -self.room[n], n)
        )
        self.room[best] -= page_size
        return best


class LinuxMover(Mover):
    """Memory migration and vCPU affinity for the processes a `LinuxBackend` observes."""

    name = "linux"

    def __init__(self, backend: LinuxBackend, *, chunk_pages: int = CHUNK_PAGES) -> None:
        self._backend = backend
        self._chunk_pages = chunk_pages

    def migrate_memory(
        self, move: MemoryMigration, progress: Progress, cancel: threading.Event
    ) -> str:
        pid = self._pid(move.vm)
        topology = self._backend.topology()
        targets = frozenset(move.to_nodes)
        _check_nodes(topology, targets)
        if move.rebind_vcpus:
            self.bind_vcpus(pid, _cpus_of(topology, targets))
        free = read_free_by_node(self._backend.sysfs_root, self._backend.proc_root)
        mover = PageMover(
            pid, targets, topology, free, proc_root=self._backend.proc_root,
            chunk_pages=self._chunk_pages,
        )  # fmt: skip
        started = time.monotonic()
        try:
            moved = mover.run(move.rate_bytes_per_s, progress, cancel)
        except (ProcessGone, ProcessLookupError):
            raise MoveError(f"{move.vm} (pid {pid}) exited during the migration") from None
        except (NumaSyscallError, HostFileError) as e:
            raise MoveError(f"{move.vm} (pid {pid}): {e}") from None
        took = time.monotonic() - started
        rate = f" at {moved / took / MiB:.0f} MiB/s" if took > 0 and moved else ""
        return (
            f"moved {format_size(moved)} of {move.vm} (pid {pid}) to nodes {_ids(targets)}"
            f"{rate}" + (", vCPUs bound there" if move.rebind_vcpus else "")
        )

    def set_vcpu_affinity(self, vm: str, cpus: tuple[int, ...]) -> str:
        pid = self._pid(vm)
        count = self.bind_vcpus(pid, frozenset(cpus))
        return f"bound {count} vCPU threads of {vm} (pid {pid}) to CPUs {_ids(cpus)}"

    def bind_vcpus(self, pid: int, cpus: frozenset[int]) -> int:
        """sched_setaffinity on each vCPU thread of `pid`; the number of threads bound."""
        if not cpus:
            raise MoveError("no CPUs to bind the vCPUs to")
        threads = []
        for tid in list_thread_ids(pid, self._backend.proc_root):
            try:
                stat = read_task_stat(pid, tid, self._backend.proc_root)
            except ProcessGone:
                continue
            if not stat.exited:
                threads.append(stat)
        bound = 0
        for thread in select_vcpu_threads(threads, self._backend.vcpu_thread_prefix):
            try:
                os.sched_setaffinity(thread.tid, cpus)
                bound += 1
            except ProcessLookupError:
                continue
            except OSError as e:
                raise MoveError(f"sched_setaffinity of thread {thread.tid}: {e}") from None
        return bound

    def _pid(self, vm: str) -> int:
        try:
            pid = self._backend.pid_of(vm)
        except BackendError as e:
            raise MoveError(str(e)) from None
        if pid is None:
            raise MoveError(f"no VM named {vm!r} on this host")
        return pid


def _check_nodes(topology: Topology, nodes: frozenset[int]) -> None:
    if not nodes:
        raise MoveError("no target nodes")
    unknown = sorted(n for n in nodes if not topology.has_node(n))
    if unknown:
        raise MoveError(f"nodes {_ids(unknown)} are not on this host")
    if not any(topology.node(n).memory_total_bytes for n in nodes):
        raise MoveError(f"nodes {_ids(sorted(nodes))} have no memory")


def _cpus_of(topology: Topology, nodes: frozenset[int]) -> frozenset[int]:
    return frozenset(c for n in nodes for c in topology.node(n).cpus)


def _ids(nodes: Iterable[int]) -> str:
    return ",".join(str(n) for n in sorted(nodes))
