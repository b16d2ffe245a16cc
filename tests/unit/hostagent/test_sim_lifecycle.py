"""StartVm/StopVm on the sim backend: memory lands on the chosen nodes, spills only if allowed."""

from __future__ import annotations

import pytest

from numaplane.common.units import GiB
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.commands.vm import register_vm_handlers
from numaplane.hostagent.drivers.contract import NoRoomError, VmStart
from numaplane.hostagent.drivers.sim import SimBackend, SimHost, SimHostSpec, SimNodeSpec
from numaplane.hostagent.drivers.sim.driver import sim_driver
from numaplane.hostagent.drivers.sim.lifecycle import SimLifecycle
from numaplane.v1 import link_pb2


def _backend() -> SimBackend:
    spec = SimHostSpec(
        name="s",
        nodes=tuple(SimNodeSpec(cpus=4, memory_bytes=4 * GiB) for _ in range(2)),
        distances=((10, 21), (21, 10)),
    )
    return SimBackend(SimHost(spec, seed=1), clock=lambda: 0.0)


def test_strict_memory_lands_on_the_chosen_nodes_only() -> None:
    backend = _backend()
    life = SimLifecycle(backend)
    life.start_vm(VmStart("a", 2, 3 * GiB, nodes=(1,), cpus=(4, 5, 6, 7), strict_memory=True))
    vm = backend.with_host(lambda h: h.vm("a"))
    assert vm.memory_by_node == {1: 3 * GiB}
    assert set(vm.allowed_cpus) == {4, 5, 6, 7}
    with pytest.raises(NoRoomError, match="no room: nodes 1 of s have 1G free for 2G"):
        life.start_vm(VmStart("b", 1, 2 * GiB, nodes=(1,), cpus=(4,), strict_memory=True))
    assert not backend.with_host(lambda h: h.has_vm("b"))


def test_preferred_memory_spills_to_the_nearest_node() -> None:
    backend = _backend()
    life = SimLifecycle(backend)
    life.start_vm(VmStart("a", 1, 3 * GiB, nodes=(1,), cpus=(4,), strict_memory=True))
    life.start_vm(VmStart("b", 1, 2 * GiB, nodes=(1,), cpus=(4,), strict_memory=False))
    vm = backend.with_host(lambda h: h.vm("b"))
    assert vm.memory_by_node == {1: 1 * GiB, 0: 1 * GiB}


def test_start_and_stop_are_idempotent() -> None:
    backend = _backend()
    life = SimLifecycle(backend)
    start = VmStart("a", 1, GiB, nodes=(0,), cpus=(0,))
    life.start_vm(start)
    assert "already runs" in life.start_vm(start)
    assert life.stop_vm("a") == "stopped and removed a"
    assert "nothing to stop" in life.stop_vm("a")
    assert backend.with_host(lambda h: h.free_by_node()) == {0: 4 * GiB, 1: 4 * GiB}


async def test_handlers_registered_for_the_sim_backend() -> None:
    backend = _backend()
    lifecycle = sim_driver(backend).lifecycle
    assert lifecycle is not None
    asked: list[int] = []
    executor = Executor(AppliedLog(None), lambda: asked.append(1))
    register_vm_handlers(executor, lifecycle, lambda: asked.append(1))
    cmd = link_pb2.Command(id="x", epoch=3)
    cmd.start_vm.CopyFrom(link_pb2.StartVm(name="v", vcpus=2, memory_bytes=GiB, nodes=[0, 1],
                                           cpus=[0, 4], strict_memory=True))
    result = await executor.execute(cmd)
    assert result.ok, result.message
    vm = backend.with_host(lambda h: h.vm("v"))
    assert set(vm.memory_by_node) <= {0, 1} and sum(vm.memory_by_node.values()) == GiB
    bad = link_pb2.Command(id="y", epoch=3)
    bad.start_vm.name = "w"
    result = await executor.execute(bad)
    assert not result.ok and "at least one vCPU" in result.message
    assert asked == [1]


def test_a_limit_settles_the_vm_at_its_limit() -> None:
    backend = _backend()
    life = SimLifecycle(backend)
    life.start_vm(VmStart("big", 1, 4 * GiB, nodes=(0,), cpus=(1,), limit_bytes=3 * GiB))

    def settle(h: SimHost) -> int:
        h.advance(1.0)
        return sum(h.vm("big").memory_by_node.values())

    assert backend.with_host(settle) == 3 * GiB
