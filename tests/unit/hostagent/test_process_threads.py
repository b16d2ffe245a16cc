"""Threads of a process: the stat line's last CPU, and the two affinity sources."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.hostagent.collectors.host_files import ProcessGone
from numaplane.hostagent.collectors.process_threads import (
    SchedAffinity,
    StatusAffinity,
    list_thread_ids,
    parse_task_stat,
    read_task_stat,
)
from tests.support.sysfs_trees import stat_line

PROC = Path("/proc")


def test_stat_of_a_vcpu_thread() -> None:
    stat = parse_task_stat(stat_line(4254, "CPU 0/KVM", "S", processor=13))
    assert (stat.tid, stat.comm, stat.state, stat.last_cpu) == (4254, "CPU 0/KVM", "S", 13)
    assert not stat.exited


def test_comm_with_spaces_and_parentheses_is_split_at_the_last_paren() -> None:
    stat = parse_task_stat(stat_line(99, "a) R 1 (b", "R", processor=7))
    assert stat.comm == "a) R 1 (b"
    assert stat.state == "R"
    assert stat.last_cpu == 7


def test_zombie_has_exited() -> None:
    assert parse_task_stat(stat_line(5, "qemu", "Z", processor=0)).exited


@pytest.mark.parametrize(
    "line",
    ["", "42 qemu S 1 2", "42 (qemu) S 1 2 3", "x (qemu) " + "0 " * 50, "42 (q) " + "S " * 50],
)
def test_malformed_stat_lines(line: str) -> None:
    with pytest.raises(ValueError):
        parse_task_stat(line)


def test_this_threads_real_stat() -> None:
    tid = threading.get_native_id()
    stat = read_task_stat(os.getpid(), tid, PROC)
    assert stat.tid == tid
    assert stat.state == "R"  # it is reading its own stat
    assert stat.last_cpu in os.sched_getaffinity(0)


@pytest.fixture
def pinned_thread() -> Iterator[tuple[int, int]]:
    """A thread of this process pinned to one CPU, as (tid, cpu)."""
    cpu = max(os.sched_getaffinity(0))
    ready = threading.Event()
    stop = threading.Event()
    tid: list[int] = []

    def run() -> None:
        os.sched_setaffinity(0, {cpu})  # pid 0: the calling thread only
        tid.append(threading.get_native_id())
        ready.set()
        stop.wait()

    thread = threading.Thread(target=run, name="pinned")
    thread.start()
    ready.wait()
    try:
        yield tid[0], cpu
    finally:
        stop.set()
        thread.join()


def test_both_affinity_sources_see_a_pinned_thread(pinned_thread: tuple[int, int]) -> None:
    tid, cpu = pinned_thread
    pid = os.getpid()
    assert tid in list_thread_ids(pid, PROC)
    assert SchedAffinity().allowed_cpus(pid, tid) == {cpu}
    assert StatusAffinity(PROC).allowed_cpus(pid, tid) == {cpu}
    assert read_task_stat(pid, tid, PROC).last_cpu == cpu


def test_both_affinity_sources_agree_on_every_thread_of_this_process() -> None:
    pid = os.getpid()
    for tid in list_thread_ids(pid, PROC):
        try:
            assert SchedAffinity().allowed_cpus(pid, tid) == StatusAffinity(PROC).allowed_cpus(
                pid, tid
            )
        except ProcessGone:
            continue  # a thread that ended meanwhile


def test_gone_threads_and_processes() -> None:
    missing = 2**31 - 2  # above any pid_max
    with pytest.raises(ProcessGone):
        SchedAffinity().allowed_cpus(missing, missing)
    with pytest.raises(ProcessGone):
        StatusAffinity(PROC).allowed_cpus(missing, missing)
    with pytest.raises(ProcessGone):
        list_thread_ids(missing, PROC)
    with pytest.raises(ProcessGone):
        read_task_stat(os.getpid(), missing, PROC)
