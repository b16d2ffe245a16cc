"""The linux backend on fixture trees and on real processes of this machine."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.common.locality import vcpus_by_node
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.collectors.process_threads import StatusAffinity, parse_task_stat
from numaplane.hostagent.collectors.vm_processes import VmProcess
from numaplane.hostagent.drivers.contract import BackendError
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.vcpu_sampling import VcpuSamples
from tests.support.fake_qemu import FAKE_QEMU, STAND_IN, start, stop
from tests.support.sysfs_trees import (
    QEMU_NUMA_MAPS_BYTES,
    TWO_NODE,
    MachineTree,
    ProcessSpec,
    ThreadSpec,
    qemu_process,
    stat_line,
    write_machine,
    write_process,
)

pytestmark = pytest.mark.integration

MiB = 1 << 20


def vm_named(observation: HostObservation, name: str) -> VmObservation:
    matches = [vm for vm in observation.vms if vm.name == name]
    assert len(matches) == 1, [vm.name for vm in observation.vms]
    return matches[0]


# --- fixture trees ---------------------------------------------------------------------------


@pytest.fixture
def host(tmp_path: Path) -> MachineTree:
    """A two-node machine running one QEMU guest, a stand-in process and a zombie."""
    tree = write_machine(tmp_path, TWO_NODE)
    write_process(
        tree.proc,
        qemu_process(
            4242,
            guest="web-1",
            vcpu_cpus=[
                (0, frozenset({0, 1, 2, 3})),
                (9, frozenset({8, 9, 10, 11})),
                (4, frozenset({4, 5})),
                (13, frozenset({12, 13})),
            ],
        ),
    )
    # A thread that exited between the listing of task/ and the reading of its stat.
    (tree.proc / "4242/task/4299").mkdir()
    write_process(
        tree.proc,
        ProcessSpec(
            pid=5000,
            comm="python3",
            argv=("python3", "stand_in.py"),
            threads=(
                ThreadSpec(tid=5000, comm="python3", last_cpu=5, allowed_cpus=frozenset({4, 5})),
                ThreadSpec(tid=5003, comm="python3", last_cpu=6, allowed_cpus=frozenset({6})),
            ),
            numa_maps="7f0000000000 default anon=256 dirty=256 N1=256 kernelpagesize_kB=4\n",
        ),
    )
    write_process(
        tree.proc,
        ProcessSpec(
            pid=6000,
            comm="qemu-system-x86_64",
            argv=(),
            threads=(
                ThreadSpec(
                    tid=6000,
                    comm="qemu-system-x86",
                    last_cpu=1,
                    allowed_cpus=frozenset({1}),
                    state="Z",
                ),
            ),
            numa_maps="",
        ),
    )
    return tree


def test_qemu_guest_in_a_fixture_tree(host: MachineTree) -> None:
    backend = LinuxBackend(
        sysfs_root=host.sysfs, proc_root=host.proc, vm_comm_pattern="qemu-system-.*"
    )
    observation = backend.observe()
    assert observation.free_by_node == {0: 48 << 30, 1: 48 << 30}
    assert [vm.name for vm in observation.vms] == ["web-1"]  # the zombie is left out
    vm = observation.vms[0]
    assert vm.id == "4242"
    assert vm.vcpus == 4
    assert vm.running_cpus == (0, 9, 4, 13)  # in vCPU order, not thread-id order
    assert vm.allowed_cpus == (0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13)
    assert vm.memory_by_node == QEMU_NUMA_MAPS_BYTES
    assert vm.memory_bytes == sum(QEMU_NUMA_MAPS_BYTES.values())
    assert 0.0 < vm.locality(backend.topology()) <= 1.0


def test_stand_in_process_by_pid_and_vanished_pids(host: MachineTree) -> None:
    backend = LinuxBackend(
        sysfs_root=host.sysfs,
        proc_root=host.proc,
        vm_pids={"stand-in": 5000, "long-gone": 31337, "zombie": 6000},
    )
    observation = backend.observe()
    assert [vm.name for vm in observation.vms] == ["stand-in"]
    vm = observation.vms[0]
    assert vm.vcpus == 2  # no "CPU n/" threads: every thread counts
    assert vm.running_cpus == (5, 6)
    assert vm.allowed_cpus == (4, 5, 6)
    assert vm.memory_by_node == {1: MiB}


def test_mapping_and_discovery_together(host: MachineTree) -> None:
    backend = LinuxBackend(
        sysfs_root=host.sysfs,
        proc_root=host.proc,
        vm_pids={"stand-in": 5000, "renamed": 4242},
        vm_comm_pattern=re.compile("qemu-system-.*"),
    )
    assert [(vm.name, vm.id) for vm in backend.observe().vms] == [
        ("renamed", "4242"),
        ("stand-in", "5000"),
    ]


def test_capabilities() -> None:
    caps = LinuxBackend().capabilities()
    assert caps.name == "linux"
    assert caps.memory_migration  # move_pages(2) on the VM's process
    assert not caps.balloon


def test_unreadable_vm_file_is_an_error_not_an_omission(host: MachineTree) -> None:
    numa_maps = host.proc / "5000/numa_maps"
    numa_maps.unlink()
    numa_maps.mkdir()  # reading it fails with EISDIR, not "no such process"
    backend = LinuxBackend(sysfs_root=host.sysfs, proc_root=host.proc, vm_pids={"s": 5000})
    with pytest.raises(BackendError, match=r"5000/numa_maps: cannot read"):
        backend.observe()


def test_bad_tree_is_a_backend_error_naming_the_file(host: MachineTree) -> None:
    (host.sysfs / "devices/system/node/node1/distance").write_text("21\n")
    backend = LinuxBackend(sysfs_root=host.sysfs, proc_root=host.proc)
    with pytest.raises(BackendError, match=r"node1/distance: has 1 distance"):
        backend.topology()


def test_fixture_stat_lines_put_the_cpu_in_field_39() -> None:
    line = stat_line(1, "x", "S", processor=77)
    assert line.split()[38] == "77"
    assert parse_task_stat(line).last_cpu == 77


# --- real processes -------------------------------------------------------------------------


@pytest.fixture
def stand_in() -> Iterator[subprocess.Popen[str]]:
    child = start(STAND_IN)
    yield child
    stop(child)


def test_real_child_process_by_pid(stand_in: subprocess.Popen[str]) -> None:
    pid = stand_in.pid
    backend = LinuxBackend(vm_pids={"child": pid})
    topology = backend.topology()
    observation = backend.observe()
    vm = vm_named(observation, "child")
    assert vm.id == str(pid)
    assert vm.memory_bytes >= 64 * MiB
    assert vm.memory_bytes == sum(vm.memory_by_node.values())
    assert set(vm.memory_by_node) <= set(topology.node_ids)
    assert set(vm.allowed_cpus) == os.sched_getaffinity(pid)
    assert vm.vcpus == len(os.listdir(f"/proc/{pid}/task")) == len(vm.running_cpus)
    assert set(vm.running_cpus) <= set(vm.allowed_cpus)
    assert set(observation.free_by_node) == set(topology.node_ids)


def test_real_process_that_exits_is_skipped(stand_in: subprocess.Popen[str]) -> None:
    pid = stand_in.pid
    backend = LinuxBackend(vm_pids={"child": pid})
    assert [vm.name for vm in backend.observe().vms] == ["child"]
    stand_in.kill()
    stat = Path(f"/proc/{pid}/stat")
    while parse_task_stat(stat.read_text()).state != "Z":
        os.sched_yield()
    assert backend.observe().vms == ()  # a zombie: exited, not yet reaped
    stand_in.communicate()
    assert backend.observe().vms == ()  # reaped: /proc/<pid> is gone


def test_real_qemu_like_process_discovered_by_comm() -> None:
    """A process named like QEMU, with "CPU n/KVM" threads pinned to known CPUs."""
    cpus = sorted(os.sched_getaffinity(0))
    vcpu_cpus = [cpus[0], cpus[-1]]
    comm = f"npqemu-{os.getpid() % 100000}"
    child = start(
        FAKE_QEMU,
        "-name",
        "guest=fake-vm,debug-threads=on",
        env={"FAKE_COMM": comm, "FAKE_VCPU_CPUS": ",".join(map(str, vcpu_cpus))},
    )
    try:
        backend = LinuxBackend(vm_comm_pattern=re.escape(comm))
        vm = vm_named(backend.observe(), "fake-vm")
        assert vm.id == str(child.pid)
        assert vm.vcpus == 2
        assert vm.running_cpus == tuple(vcpu_cpus)
        assert vm.allowed_cpus == tuple(sorted(set(vcpu_cpus)))
        assert vm.memory_bytes >= 32 * MiB
        # The same answers from the status files, as for a tree that is not our /proc.
        by_status = LinuxBackend(
            vm_comm_pattern=re.escape(comm), affinity=StatusAffinity(Path("/proc"))
        )
        assert vm_named(by_status.observe(), "fake-vm").allowed_cpus == vm.allowed_cpus
    finally:
        stop(child)


def test_real_vcpu_threads_sampled_and_one_exiting_mid_interval() -> None:
    """Samples of a real process's vCPU threads, merged into the next report: a thread
    that exits between two samples leaves the figures summing to the vCPUs still there."""
    cpus = sorted(os.sched_getaffinity(0))
    vcpu_cpus = [cpus[0], cpus[-1], cpus[0]]
    comm = f"npsample-{os.getpid() % 10000}"
    child = start(FAKE_QEMU, "-name", "guest=sampled",
                  env={"FAKE_COMM": comm, "FAKE_VCPU_CPUS": ",".join(map(str, vcpu_cpus))})
    try:
        backend = LinuxBackend(vm_comm_pattern=re.escape(comm))
        topology = backend.topology()
        samples = VcpuSamples()
        first = vm_named(backend.observe(), "sampled")
        assert first.vcpus == 3
        samples.add(backend.sample_vcpus())
        assert backend.sample_vcpus() == {"sampled": tuple(vcpu_cpus)}  # pinned: they stay
        assert child.stdin is not None and child.stdout is not None
        child.stdin.write("exit-vcpu\n")
        child.stdin.flush()
        assert child.stdout.readline() == "exited\n"
        last = backend.vcpu_threads["sampled"].tids[-1]
        while Path(f"/proc/{child.pid}/task/{last}").exists():
            os.sched_yield()  # the thread's exit completes in the kernel
        assert backend.sample_vcpus() == {"sampled": tuple(vcpu_cpus[:2])}
        samples.add(backend.sample_vcpus())
        vm = vm_named(samples.merge_into(backend.observe(), topology), "sampled")
        assert vm.vcpus == 2
        assert sum(vm.vcpu_nodes.values()) == pytest.approx(2.0)
        expected = vcpus_by_node([*vcpu_cpus, *vcpu_cpus[:2], *vcpu_cpus[:2]],
                                 topology.node_of_cpu)  # fmt: skip
        total = sum(expected.values())
        assert vm.vcpu_nodes == {n: pytest.approx(2.0 * v / total) for n, v in expected.items()}
    finally:
        stop(child)


def test_real_numa_balancing_mode_and_kernel_statistics(stand_in: subprocess.Popen[str]) -> None:
    """This machine's kernel: the mode as /proc/sys/kernel/numa_balancing says, and the
    sched files of a real process read (None without CONFIG_SCHED_DEBUG or
    CONFIG_NUMA_BALANCING, or while balancing is off)."""
    mode_file = Path("/proc/sys/kernel/numa_balancing")
    mode = int(mode_file.read_text()) if mode_file.exists() else None
    backend = LinuxBackend(vm_pids={"child": stand_in.pid})
    observation = backend.observe()
    assert observation.numa_balancing == mode
    vm = vm_named(observation, "child")
    assert (vm.kernel_numa is not None) == (mode is not None and bool(mode & 1))
    measured = backend.observe_process(VmProcess("child", stand_in.pid), kernel_numa=True)
    sched = Path(f"/proc/{stand_in.pid}/sched")
    if sched.exists() and "numa_preferred_nid" in sched.read_text():
        kernel = measured.vm.kernel_numa
        assert kernel is not None
        assert 0 <= kernel.local_faults <= kernel.faults and kernel.pages_migrated >= 0
    else:
        assert measured.vm.kernel_numa is None
