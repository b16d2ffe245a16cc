"""Which processes are VMs, their names, and which of their threads are vCPUs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from numaplane.hostagent.collectors.process_threads import TaskStat
from numaplane.hostagent.collectors.qemu_cmdline import qemu_guest_name, split_qemu_opts
from numaplane.hostagent.collectors.vcpu_threads import select_vcpu_threads
from numaplane.hostagent.collectors.vm_processes import (
    VmProcess,
    discover_vm_processes,
    read_cmdline,
)
from tests.support.sysfs_trees import ProcessSpec, ThreadSpec, qemu_process, write_process


@pytest.mark.parametrize(
    ("argv", "name"),
    [
        (["qemu-system-x86_64", "-name", "guest=web-1,debug-threads=on"], "web-1"),
        (["qemu-system-x86_64", "-name", "db"], "db"),
        (["qemu-system-x86_64", "-name", "db,process=qemu:db"], "db"),
        (["qemu-system-x86_64", "--name", "guest=a,,b"], "a,b"),
        (["qemu-system-x86_64", "-name", "process=x,guest=late"], "late"),
        (["qemu-system-x86_64", "-name", "process=x"], None),
        (["qemu-system-x86_64", "-m", "4G"], None),
        (["qemu-system-x86_64", "-name"], None),
        ([], None),
    ],
)
def test_guest_name_from_the_command_line(argv: list[str], name: str | None) -> None:
    assert qemu_guest_name(argv) == name


def test_qemu_option_splitting() -> None:
    assert split_qemu_opts("a=1,b=x,,y,c") == ["a=1", "b=x,y", "c"]


def stat(tid: int, comm: str) -> TaskStat:
    return TaskStat(tid=tid, comm=comm, state="S", last_cpu=0)


def test_named_vcpu_threads_in_vcpu_order() -> None:
    threads = [
        stat(100, "qemu-system-x86"),
        stat(101, "CPU 10/KVM"),
        stat(102, "CPU 2/KVM"),
        stat(103, "IO mon_iothread"),
        stat(104, "CPU 0/TCG"),
    ]
    assert [t.tid for t in select_vcpu_threads(threads)] == [104, 102, 101]


def test_without_named_threads_every_thread_counts() -> None:
    threads = [stat(7, "python3"), stat(5, "python3")]
    assert [t.tid for t in select_vcpu_threads(threads)] == [5, 7]


def test_discovery_by_mapping_and_by_comm(tmp_path: Path) -> None:
    write_process(tmp_path, qemu_process(4000, guest="web-1", vcpu_cpus=[(0, frozenset({0}))]))
    unnamed = ProcessSpec(
        pid=4100,
        comm="qemu-system-aarch64",
        argv=("qemu-system-aarch64", "-m", "1G"),
        threads=(
            ThreadSpec(tid=4100, comm="qemu-system-aar", last_cpu=1, allowed_cpus=frozenset({1})),
        ),
        numa_maps="",
    )
    write_process(tmp_path, unnamed)
    plain = ProcessSpec(
        pid=300,
        comm="python3",
        argv=("python3", "-c", "pass"),
        threads=(ThreadSpec(tid=300, comm="python3", last_cpu=1, allowed_cpus=frozenset({1})),),
        numa_maps="",
    )
    write_process(tmp_path, plain)
    (tmp_path / "self").symlink_to("300")
    (tmp_path / "meminfo").write_text("MemTotal: 1 kB\n")

    found = discover_vm_processes(
        tmp_path, pids={"stand-in": 300, "gone": 999}, comm_pattern=re.compile("qemu-system-.*")
    )
    assert found == [
        VmProcess(name="stand-in", pid=300),
        VmProcess(name="gone", pid=999),
        VmProcess(name="web-1", pid=4000),
        VmProcess(name="pid-4100", pid=4100),
    ]
    assert discover_vm_processes(tmp_path, pids={}, comm_pattern=None) == []
    # comm holds at most 15 characters, as the kernel cuts it.
    assert (tmp_path / "4100/comm").read_text() == "qemu-system-aar\n"


def test_cmdline_without_a_final_nul(tmp_path: Path) -> None:
    (tmp_path / "5").mkdir()
    (tmp_path / "5/cmdline").write_bytes(b"qemu: web-1 [retitled]")
    assert read_cmdline(5, tmp_path) == ["qemu: web-1 [retitled]"]
    (tmp_path / "5/cmdline").write_bytes(b"")
    assert read_cmdline(5, tmp_path) == []
