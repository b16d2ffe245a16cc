"""A linux agent over a fixture /proc tree, connected to a real controller and etcd: the
vCPU sampler runs inside the link's session and the stored status carries vCPU-time per
node (a vCPU moving between nodes shows up as a share of each), the host's NUMA
balancing mode and the kernel's per-VM statistics."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from pathlib import Path

import pytest

from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.linux.driver import linux_driver
from numaplane.hostagent.settings import AgentSettings
from numaplane.v1 import state_pb2
from tests.support.cluster import Controller, controller_settings, running_agents, wait_for
from tests.support.sysfs_trees import (
    TWO_NODE,
    ThreadSpec,
    qemu_process,
    sched_text,
    write_machine,
    write_numa_balancing,
    write_process,
    write_stat,
)

pytestmark = pytest.mark.integration

PID = 4242
ALL = frozenset(range(16))
VCPU0, VCPU1 = PID + 12, PID + 11
"""The thread ids `qemu_process` gives a two-vCPU guest's vCPUs."""


async def test_stored_status_has_sampled_vcpu_time_and_kernel_figures(
    tmp_path: Path, etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    write_process(tree.proc, qemu_process(PID, guest="web-1", vcpu_cpus=[(0, ALL), (4, ALL)]))
    write_numa_balancing(tree.proc, 1)
    task_dir = tree.proc / str(PID) / "task"
    (task_dir / str(VCPU0) / "sched").write_text(
        sched_text("CPU 0/KVM", VCPU0, preferred=0, current=0, migrated=100,
                   faults={0: (90, 0), 1: (10, 0)})
    )  # fmt: skip
    (task_dir / str(VCPU1) / "sched").write_text(
        sched_text("CPU 1/KVM", VCPU1, preferred=0, current=1, migrated=20,
                   faults={0: (60, 0), 1: (40, 0)})
    )  # fmt: skip
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    backend = LinuxBackend(sysfs_root=tree.sysfs, proc_root=tree.proc,
                           vm_comm_pattern="qemu-system-.*")  # fmt: skip
    agent = Agent(
        AgentSettings(host="hv-1", controller=settings.link_address, backend="linux",
                      report_interval_s=0.5, vcpu_samples_per_report=5, keepalive_s=2.0,
                      backoff_initial_s=0.1, backoff_max_s=0.5),
        linux_driver(backend),
    )  # fmt: skip

    async def flip() -> None:
        """vCPU 1 goes back and forth between node 1 (CPU 4) and node 0 (CPU 1)."""
        for cpu in itertools.cycle((4, 1)):
            write_stat(tree.proc, PID, ThreadSpec(VCPU1, "CPU 1/KVM", cpu, ALL))
            await asyncio.sleep(0.03)

    async def status() -> state_pb2.VmStatus | None:
        kv = await store.get(keyspace.vm_status("web-1"))
        return decode(state_pb2.VmStatus, kv.value) if kv is not None else None

    async def shared_between_nodes() -> bool:
        st = await status()
        if st is None:
            return False
        nodes = {nv.node: nv.vcpus for nv in st.observed.vcpu_nodes}
        return 1.0 < nodes.get(0, 0.0) < 2.0 and 0.0 < nodes.get(1, 0.0) < 1.0

    flipper = asyncio.create_task(flip(), name="flip-vcpu")
    try:
        async with Controller(settings), running_agents() as agents:
            agents.start(agent)
            await wait_for(shared_between_nodes)
            st = await status()
            assert agent.link.status.last_report_vcpu_samples >= 1  # the session's sampler
            host = await store.get(keyspace.host_status("hv-1"))
    finally:
        flipper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flipper
    assert st is not None and host is not None
    observed = st.observed
    assert sum(nv.vcpus for nv in observed.vcpu_nodes) == pytest.approx(2.0)
    assert 0.0 <= observed.locality <= 1.0
    assert decode(state_pb2.HostStatus, host.value).numa_balancing == 1
    kernel = observed.kernel_numa
    assert (kernel.preferred_node, kernel.faults, kernel.local_faults, kernel.pages_migrated) == (
        0, 200, 90 + 40, 120,
    )  # fmt: skip
