"""The linux mover on this machine's real kernel: page walks, rate pacing and vCPU binding.

A real child process stands in for a VM. This machine may have a single NUMA node, so
memory can only be "moved" to where it already is here (nothing to copy, every page
located): the moves between two nodes are shown in the two-node kernel of
tests/e2e/test_rebalance_real_kernel.py.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest

from numaplane.hostagent.collectors.numa_maps import read_numa_maps
from numaplane.hostagent.drivers.contract import MemoryMigration, MoveError
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.linux.mover import LinuxMover
from numaplane.hostagent.drivers.linux.numa_syscalls import move_pages
from numaplane.hostagent.drivers.linux.page_ranges import read_page_ranges

STAND_IN = "import sys; data = bytearray(32 << 20); print('ready', flush=True); sys.stdin.read()"


@pytest.fixture
def stand_in() -> Iterator[int]:
    child = subprocess.Popen(
        [sys.executable, "-c", STAND_IN], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None and child.stdout.readline().strip() == "ready"
    try:
        yield child.pid
    finally:
        child.kill()
        child.wait()


def test_page_ranges_agree_with_numa_maps(stand_in: int) -> None:
    from pathlib import Path

    ranges = read_page_ranges(stand_in, Path("/proc"), os.sysconf("SC_PAGE_SIZE"))
    by_node: dict[int, int] = {}
    for r in ranges:
        assert r.start < r.end
        for node, pages in r.pages_by_node.items():
            by_node[node] = by_node.get(node, 0) + pages * r.page_size
    assert by_node == read_numa_maps(stand_in)
    # The kernel locates every resident page of the largest range on its node.
    largest = max(ranges, key=lambda r: sum(r.pages_by_node.values()))
    where = move_pages(stand_in, next(largest.addresses(64)))
    assert any(node >= 0 for node in where)


def test_moving_to_the_node_that_holds_everything_moves_nothing_and_binds(stand_in: int) -> None:
    backend = LinuxBackend(vm_pids={"stand-in": stand_in})
    home = min(read_numa_maps(stand_in))
    cpus = backend.topology().node(home).cpus
    seen: list[tuple[int, int, str]] = []
    message = LinuxMover(backend).migrate_memory(
        MemoryMigration("stand-in", (home,), rate_bytes_per_s=64 << 20),
        lambda d, t, m: seen.append((d, t, m)),
        threading.Event(),
    )
    assert message.startswith(f"moved 0 of stand-in (pid {stand_in}) to nodes {home}")
    assert message.endswith("vCPUs bound there")
    assert os.sched_getaffinity(stand_in) == set(cpus)
    assert seen[0][1] == 0  # nothing outside the target


def test_set_vcpu_affinity_binds_the_threads(stand_in: int) -> None:
    backend = LinuxBackend(vm_pids={"stand-in": stand_in})
    first = min(os.sched_getaffinity(0))
    message = LinuxMover(backend).set_vcpu_affinity("stand-in", (first,))
    assert os.sched_getaffinity(stand_in) == {first}
    assert message == f"bound 1 vCPU threads of stand-in (pid {stand_in}) to CPUs {first}"


def test_unknown_vm_and_node_are_refused(stand_in: int) -> None:
    mover = LinuxMover(LinuxBackend(vm_pids={"stand-in": stand_in}))
    with pytest.raises(MoveError, match="no VM named 'ghost'"):
        mover.set_vcpu_affinity("ghost", (0,))
    with pytest.raises(MoveError, match="nodes 63 are not on this host"):
        mover.migrate_memory(MemoryMigration("stand-in", (63,), 1.0), print, threading.Event())
