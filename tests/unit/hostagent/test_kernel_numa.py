"""The kernel's NUMA balancing: its mode, one thread's sched statistics, a VM's figures."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from numaplane.common.locality import locality
from numaplane.common.vm import KernelNumaStats
from numaplane.hostagent.collectors.host_files import HostFileError
from numaplane.hostagent.collectors.kernel_numa import (
    TaskNuma,
    balancing_on,
    parse_sched_numa,
    read_numa_balancing,
    read_task_numa,
    vm_kernel_numa,
)
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from tests.support.sysfs_trees import (
    QEMU_NUMA_MAPS_BYTES,
    TWO_NODE,
    qemu_process,
    sched_text,
    write_machine,
    write_numa_balancing,
    write_process,
)

PROC = Path("/proc")


# -- the mode ---------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "mode", "on"), [("0", 0, False), ("1", 1, True),
                                                   ("2", 2, False), ("3", 3, True)])
def test_the_mode_and_whether_balancing_proper_is_on(
    tmp_path: Path, text: str, mode: int, on: bool
) -> None:
    write_numa_balancing(tmp_path, text)
    assert read_numa_balancing(tmp_path) == mode
    assert balancing_on(read_numa_balancing(tmp_path)) is on


def test_a_kernel_without_numa_balancing_does_not_say(tmp_path: Path) -> None:
    assert read_numa_balancing(tmp_path) is None  # no sys/kernel/numa_balancing at all
    assert not balancing_on(None)


@pytest.mark.parametrize("text", ["on", "", "-1", "1 2"])
def test_a_mode_that_is_not_a_number_names_the_file(tmp_path: Path, text: str) -> None:
    write_numa_balancing(tmp_path, text)
    with pytest.raises(HostFileError, match="numa_balancing"):
        read_numa_balancing(tmp_path)


def test_this_machines_mode() -> None:
    mode = read_numa_balancing(PROC)
    if not (PROC / "sys/kernel/numa_balancing").exists():
        assert mode is None
    else:
        assert mode == int((PROC / "sys/kernel/numa_balancing").read_text())


# -- one thread -------------------------------------------------------------------------


def test_a_threads_statistics() -> None:
    text = sched_text("CPU 1/KVM", 4255, preferred=1, current=1, migrated=8192,
                      faults={0: (3, 1), 1: (400, 9)}, group_faults={0: (50, 50), 1: (900, 9)})
    assert parse_sched_numa(text) == TaskNuma(
        preferred_node=1, current_node=1, pages_migrated=8192,
        faults_by_node={0: 4, 1: 409},  # the task's own faults; the group's are left out
    )  # fmt: skip


def test_no_preference_yet_and_no_faults() -> None:
    stats = parse_sched_numa(sched_text("python3", 77))
    assert stats == TaskNuma(preferred_node=None, current_node=0, pages_migrated=0,
                             faults_by_node={})  # fmt: skip


def test_a_kernel_without_the_numa_lines() -> None:
    assert parse_sched_numa(sched_text("python3", 77, numa=False)) is None
    assert parse_sched_numa("") is None


def test_lines_it_does_not_know_are_skipped() -> None:
    text = (
        sched_text("qemu", 9, preferred=0, current=0, faults={0: (5, 0)})
        + "numa_faults node=1 task_private=lots task_shared=?\n"
        + "numa_faults_memory, 0, 0, 1, 0, -1\n"  # an old kernel's format
        + "garbage\n"
    )
    stats = parse_sched_numa(text)
    assert stats is not None and stats.faults_by_node == {0: 5}


def test_absent_or_exited_threads_have_no_statistics(tmp_path: Path) -> None:
    assert read_task_numa(42, 43, tmp_path) is None  # no such process
    (tmp_path / "42/task/43").mkdir(parents=True)
    assert read_task_numa(42, 43, tmp_path) is None  # no sched file: no CONFIG_SCHED_DEBUG
    (tmp_path / "42/task/43/sched").write_text(sched_text("x", 43, current=1))
    assert read_task_numa(42, 43, tmp_path) == TaskNuma(current_node=1)


def test_this_threads_real_sched_file() -> None:
    """This machine's kernel: the format is the one parsed, or the file or lines are
    absent (no CONFIG_SCHED_DEBUG / CONFIG_NUMA_BALANCING) and the answer is None."""
    pid, tid = os.getpid(), threading.get_native_id()
    path = PROC / str(pid) / "task" / str(tid) / "sched"
    stats = read_task_numa(pid, tid, PROC)
    if not path.exists() or "numa_preferred_nid" not in path.read_text():
        assert stats is None
        return
    assert stats is not None
    assert stats.current_node is None or stats.current_node >= 0
    assert stats.pages_migrated >= 0


# -- one VM -----------------------------------------------------------------------------


def test_a_vms_figures_from_its_vcpu_threads() -> None:
    stats = vm_kernel_numa([
        TaskNuma(preferred_node=1, current_node=1, pages_migrated=100,
                 faults_by_node={0: 10, 1: 90}),
        TaskNuma(preferred_node=1, current_node=0, pages_migrated=20,
                 faults_by_node={0: 30, 1: 70}),
        TaskNuma(preferred_node=0, current_node=0, faults_by_node={0: 0}),
        None,  # a thread without the file
    ])  # fmt: skip
    assert stats == KernelNumaStats(
        preferred_node=1, faults=200, local_faults=90 + 30, pages_migrated=120
    )
    assert stats is not None and stats.fault_locality == pytest.approx(0.6)


def test_a_tie_goes_to_the_lower_node_and_no_faults_has_no_share() -> None:
    stats = vm_kernel_numa([TaskNuma(preferred_node=1), TaskNuma(preferred_node=0)])
    assert stats == KernelNumaStats(preferred_node=0)
    assert stats.fault_locality is None


def test_a_vm_none_of_whose_threads_has_figures() -> None:
    assert vm_kernel_numa([None, None]) is None
    assert vm_kernel_numa([]) is None


# -- the linux backend ------------------------------------------------------------------


def _guest_with_sched_files(tmp_path: Path) -> LinuxBackend:
    tree = write_machine(tmp_path, TWO_NODE)
    everywhere = frozenset(range(16))
    write_process(tree.proc, qemu_process(4242, guest="web-1",
                                          vcpu_cpus=[(0, everywhere), (4, everywhere)]))
    task = tree.proc / "4242/task"
    (task / "4254/sched").write_text(  # vCPU 0
        sched_text("CPU 0/KVM", 4254, preferred=1, current=0, migrated=7,
                   faults={0: (20, 0), 1: (80, 0)})
    )  # fmt: skip
    (task / "4253/sched").write_text(  # vCPU 1
        sched_text("CPU 1/KVM", 4253, preferred=1, current=1, migrated=5,
                   faults={1: (50, 10)})
    )  # fmt: skip
    (task / "4242/sched").write_text(  # the main thread: not a vCPU, not counted
        sched_text("qemu-system-x86", 4242, preferred=0, current=0, faults={0: (999, 0)})
    )
    return LinuxBackend(sysfs_root=tree.sysfs, proc_root=tree.proc,
                        vm_comm_pattern="qemu-system-.*")  # fmt: skip


def test_the_linux_backend_reports_the_kernels_figures_while_it_balances(
    tmp_path: Path,
) -> None:
    backend = _guest_with_sched_files(tmp_path)
    obs = backend.observe()
    assert obs.numa_balancing is None  # the tree has no sys/kernel/numa_balancing
    assert obs.vms[0].kernel_numa is None
    write_numa_balancing(backend.proc_root, 0)
    assert backend.observe().numa_balancing == 0
    assert backend.observe().vms[0].kernel_numa is None  # off: the counters are stale
    write_numa_balancing(backend.proc_root, 1)
    obs = backend.observe()
    assert obs.numa_balancing == 1
    assert obs.vms[0].kernel_numa == KernelNumaStats(
        preferred_node=1, faults=160, local_faults=20 + 60, pages_migrated=12
    )
    # numaplane's own figure stays the primary one: per-vCPU share of resident memory.
    assert obs.vms[0].locality(backend.topology()) == pytest.approx(
        locality(QEMU_NUMA_MAPS_BYTES, {0: 1.0, 1: 1.0})
    )
