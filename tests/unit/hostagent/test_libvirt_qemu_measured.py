"""The libvirt backend measures a domain's QEMU process from /proc when its pid file is there.

libvirt's test driver runs no QEMU, so a real child process (the linux backend tests'
fake QEMU: "CPU n/KVM" threads pinned to known CPUs, 32 MiB touched) stands in for the
predefined `test` domain's, its pid written where libvirt's QEMU driver would write it.
"""

from __future__ import annotations

import gc
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.common.units import GiB
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.drivers.contract import VmStart
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from tests.support.fake_qemu import FAKE_QEMU, start, stop

libvirt = pytest.importorskip("libvirt")

from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend  # noqa: E402

MiB = 1 << 20


def vm_named(observation: HostObservation, name: str) -> VmObservation:
    [vm] = [vm for vm in observation.vms if vm.name == name]
    return vm


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[LibvirtBackend]:
    # test:///default is one driver per process, kept (with what earlier tests changed in
    # it) while any handle on it lives. Earlier tests leave domain handles in reference
    # cycles that live until the next garbage collection; collect them, so that these
    # tests see the driver's predefined `test` domain, not an earlier test's rebinding.
    gc.collect()
    b = LibvirtBackend("test:///default", qemu_pid_dir=tmp_path)
    yield b
    b.close()


def test_a_domain_with_a_qemu_pid_is_measured_the_others_estimated(
    backend: LibvirtBackend, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    host_nodes = LinuxBackend().topology().node_ids  # this machine's, not the driver's
    cpus = sorted(os.sched_getaffinity(0))
    vcpu_cpus = [cpus[-1], cpus[0]]
    child = start(
        FAKE_QEMU,
        env={"FAKE_COMM": "qemu-kvm", "FAKE_VCPU_CPUS": ",".join(map(str, vcpu_cpus))},
    )
    try:
        (tmp_path / "test.pid").write_text(f"{child.pid}\n")
        backend.start_vm(VmStart("web", 2, 1 * GiB, nodes=(1,), cpus=(8, 9, 10, 11)))
        with caplog.at_level(logging.INFO, logger="numaplane.hostagent.drivers.libvirt.backend"):
            first = backend.observe()
            second = backend.observe()

        # `test` (2 GiB, unbound over the driver's two cells): the child's real figures,
        # not 1 GiB on each cell.
        for observation in (first, second):
            vm = vm_named(observation, "test")
            assert set(vm.memory_by_node) <= set(host_nodes)
            assert 32 * MiB <= sum(vm.memory_by_node.values()) < 1 * GiB
            assert vm.running_cpus == tuple(vcpu_cpus)
            assert vm.allowed_cpus == tuple(sorted(set(vcpu_cpus)))

        # `web` has no pid file: the binding's estimate, libvirt's CPUs.
        web = vm_named(first, "web")
        assert web.memory_by_node == {1: 1 * GiB}
        assert web.allowed_cpus == (8, 9, 10, 11)
        estimated = [r.getMessage() for r in caplog.records if "estimated" in r.getMessage()]
        assert len(estimated) == 1 and estimated[0].startswith("web: no QEMU pid")

        # Between reports, only the measured domain's vCPU threads are sampled.
        assert backend.sample_vcpus() == {"test": tuple(vcpu_cpus)}
        mode = Path("/proc/sys/kernel/numa_balancing")
        assert first.numa_balancing == (int(mode.read_text()) if mode.exists() else None)
    finally:
        stop(child)


def test_a_stale_pid_file_falls_back_to_the_estimate(
    backend: LibvirtBackend, tmp_path: Path
) -> None:
    child = start(FAKE_QEMU, env={"FAKE_COMM": "qemu-kvm", "FAKE_VCPU_CPUS": "0"})
    stop(child)  # exited and reaped: its pid names no process
    (tmp_path / "test.pid").write_text(f"{child.pid}\n")
    vm = vm_named(backend.observe(), "test")
    assert vm.memory_by_node == {0: 1 * GiB, 1: 1 * GiB}
