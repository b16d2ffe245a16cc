"""Where the vCPUs ran over a report interval: the linux backend's samples of a fixture
/proc tree, merged into the report's observation (`numaplane.hostagent.vcpu_sampling`),
and the simulator's exact figures."""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
from pathlib import Path

import pytest

from numaplane.common.locality import locality
from numaplane.common.units import GiB
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.collectors.vcpu_positions import VcpuThreads, read_vcpu_cpus
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.sim import MemoryBinding, SimBackend, SimHost
from numaplane.hostagent.drivers.sim.factory import two_node_spec
from numaplane.hostagent.vcpu_sampling import VcpuSamples, sample_vcpus
from tests.support.sysfs_trees import (
    QEMU_NUMA_MAPS_BYTES,
    TWO_NODE,
    MachineTree,
    ThreadSpec,
    qemu_process,
    write_machine,
    write_process,
    write_stat,
)

PID = 4242
ALL = frozenset(range(16))
"""TWO_NODE: node 0 has CPUs 0-3 and 8-11, node 1 has 4-7 and 12-15."""


def vcpu_tid(n: int, vcpus: int) -> int:
    """The thread id `qemu_process` gives vCPU n (not in vCPU order, as QEMU's)."""
    return PID + 10 + vcpus - n


def move(tree: MachineTree, n: int, vcpus: int, cpu: int, state: str = "S") -> None:
    """vCPU n of the guest is on `cpu` now."""
    write_stat(tree.proc, PID, ThreadSpec(vcpu_tid(n, vcpus), f"CPU {n}/KVM", cpu, ALL, state))


def guest(tmp_path: Path, cpus: list[int]) -> tuple[MachineTree, LinuxBackend]:
    tree = write_machine(tmp_path, TWO_NODE)
    write_process(tree.proc, qemu_process(PID, guest="web-1", vcpu_cpus=[(c, ALL) for c in cpus]))
    backend = LinuxBackend(sysfs_root=tree.sysfs, proc_root=tree.proc,
                           vm_comm_pattern="qemu-system-.*")  # fmt: skip
    return tree, backend


def replace(path: Path, text: str) -> None:
    """Rewrite a file the way the kernel's are seen: whole, never half written."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def only(obs: HostObservation) -> VmObservation:
    [vm] = obs.vms
    return vm


def test_samples_average_into_vcpu_time_per_node(tmp_path: Path) -> None:
    tree, backend = guest(tmp_path, [0, 4])
    topology = backend.topology()
    samples = VcpuSamples()
    backend.observe()  # the previous report: it found the vCPU threads
    # vCPU 0 stays on node 0; vCPU 1 spends two readings on node 1, then two on node 0.
    for cpu in (4, 13, 1):
        move(tree, 1, 2, cpu)
        samples.add(backend.sample_vcpus())
    move(tree, 1, 2, 2)
    assert samples.samples == 3
    vm = only(samples.merge_into(backend.observe(), topology))  # the report's own reading
    assert vm.running_cpus == (0, 2)
    assert vm.vcpu_nodes == {0: 1.5, 1: 0.5}  # 6 of 8 vCPU-readings on node 0
    assert vm.locality(topology) == pytest.approx(
        locality(QEMU_NUMA_MAPS_BYTES, {0: 1.5, 1: 0.5})
    )
    # The next interval starts afresh: the report's reading alone.
    assert samples.samples == 0
    assert only(samples.merge_into(backend.observe(), topology)).vcpu_nodes == {0: 2.0}


def test_sampling_reads_only_the_vcpu_threads_stat_files(tmp_path: Path) -> None:
    tree, backend = guest(tmp_path, [0, 4])
    backend.observe()
    assert backend.vcpu_threads == {
        "web-1": VcpuThreads(pid=PID, tids=(vcpu_tid(0, 2), vcpu_tid(1, 2)))
    }
    # numa_maps and every other thread's files may go: a sample does not read them.
    (tree.proc / str(PID) / "numa_maps").unlink()
    shutil.rmtree(tree.proc / str(PID) / "task" / str(PID + 2))  # the I/O thread
    assert backend.sample_vcpus() == {"web-1": (0, 4)}


def test_a_thread_that_exits_mid_interval(tmp_path: Path) -> None:
    tree, backend = guest(tmp_path, [0, 1, 5])
    topology = backend.topology()
    samples = VcpuSamples()
    backend.observe()
    samples.add(backend.sample_vcpus())
    samples.add(backend.sample_vcpus())
    move(tree, 2, 3, 5, state="Z")  # vCPU 2's thread exits: a zombie first ...
    assert backend.sample_vcpus() == {"web-1": (0, 1)}
    shutil.rmtree(tree.proc / str(PID) / "task" / str(vcpu_tid(2, 3)))  # ... then gone
    samples.add(backend.sample_vcpus())
    vm = only(samples.merge_into(backend.observe(), topology))
    assert vm.vcpus == 2
    # 10 vCPU-readings, 2 of them on node 1: counted over the samples it was seen in,
    # and scaled to the 2 vCPUs measured now (a report may not claim more than it has).
    assert vm.vcpu_nodes == {0: pytest.approx(1.6), 1: pytest.approx(0.4)}
    assert sum(vm.vcpu_nodes.values()) == pytest.approx(vm.vcpus)


def test_a_vm_that_stops_or_starts_mid_interval(tmp_path: Path) -> None:
    tree, backend = guest(tmp_path, [0, 4])
    topology = backend.topology()
    samples = VcpuSamples()
    backend.observe()
    samples.add(backend.sample_vcpus())
    shutil.rmtree(tree.proc / str(PID))  # web-1 stops
    assert backend.sample_vcpus() == {}
    samples.add(backend.sample_vcpus())
    write_process(tree.proc, qemu_process(5151, guest="db-1", vcpu_cpus=[(12, ALL)]))
    merged = samples.merge_into(backend.observe(), topology)
    # web-1's samples are dropped with it; db-1, first seen now, has its reading alone.
    assert [(vm.name, dict(vm.vcpu_nodes)) for vm in merged.vms] == [("db-1", {1: 1.0})]


def test_read_vcpu_cpus_leaves_out_what_is_gone(tmp_path: Path) -> None:
    tree, _ = guest(tmp_path, [3, 7])
    threads = {
        "web-1": VcpuThreads(pid=PID, tids=(vcpu_tid(0, 2), 99999, vcpu_tid(1, 2))),
        "gone": VcpuThreads(pid=31337, tids=(31337,)),
    }
    assert read_vcpu_cpus(threads, tree.proc) == {"web-1": (3, 7)}


def test_a_backend_that_measures_vcpu_nodes_keeps_them() -> None:
    """The simulator knows where its vCPUs are: exact figures, no samples needed."""
    host = SimHost(two_node_spec("sim-1"))
    host.start_vm("a", 4, 1 * GiB, cpus=[0, 1, 8, 9], binding=MemoryBinding.preferred([0]))
    host.start_vm("b", 2, 1 * GiB, cpus=[1, 9])
    backend = SimBackend(host, clock=lambda: 0.0)
    obs = backend.observe()
    topology = backend.topology()
    assert {vm.name: dict(vm.vcpu_nodes) for vm in obs.vms} == {
        "a": {0: 2.0, 1: 2.0}, "b": {0: 1.0, 1: 1.0},
    }  # fmt: skip
    assert backend.sample_vcpus() == {}
    samples = VcpuSamples()
    samples.add({"a": [0, 0, 0, 0]})  # whatever a sample said, the backend's figures stand
    assert samples.merge_into(obs, topology) == obs


async def test_the_sampler_adds_samples_and_skips_failing_ones(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    tree, backend = guest(tmp_path, [0, 4])
    backend.observe()
    samples = VcpuSamples()
    caplog.set_level(logging.WARNING, logger="numaplane.hostagent.vcpu_sampling")
    stat = tree.proc / str(PID) / "task" / str(vcpu_tid(1, 2)) / "stat"
    good = stat.read_text()
    replace(stat, "4253 (CPU 1/KVM) S 1 2\n")  # a stat line the sampler cannot read
    task = asyncio.create_task(sample_vcpus(backend, samples, 0.0), name="sampler")
    try:
        while "cannot sample" not in caplog.text:  # noqa: ASYNC110 - polls the log
            await asyncio.sleep(0.01)
        assert samples.samples == 0  # the failed sample was skipped, the sampler goes on
        replace(stat, good)
        while samples.samples < 3:  # noqa: ASYNC110 - polls the sampler's count
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    vm = only(samples.merge_into(backend.observe(), backend.topology()))
    assert vm.vcpu_nodes == {0: 1.0, 1: 1.0}
