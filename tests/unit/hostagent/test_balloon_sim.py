"""The `sim` balloon driver over the simulated guest, and the agent's SetBalloon handler.

Real SimHost, real Executor and AppliedLog; simulated time moves only when the test
moves its clock, so every balloon step is deterministic.
"""

from __future__ import annotations

import pytest

from numaplane.common.units import GiB
from numaplane.common.vm import BalloonCapabilities
from numaplane.common.wire import vm_from_proto, vm_to_proto
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.balloon import SetBalloonHandler
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.drivers.contract import PAGE_BYTES, BalloonError
from numaplane.hostagent.drivers.sim import SimBackend, SimHost, host_spec_from_dict
from numaplane.hostagent.drivers.sim.balloon import SimBalloon
from numaplane.v1 import link_pb2


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sim_backend(clock: Clock, *, balloon_rate_gib_s: float | None = 0.5) -> SimBackend:
    """One 8 GiB node; vm1 has 4 GiB of which 3 GiB is its working set."""
    spec: dict[str, object] = {
        "name": "h", "nodes": [{"cpus": 4, "memory_gib": 8}], "distances": [[10]],
    }
    if balloon_rate_gib_s is not None:
        spec["balloon_rate_gib_s"] = balloon_rate_gib_s
    host = SimHost(host_spec_from_dict(spec))
    host.start_vm("vm1", 2, 4 * GiB, working_set_bytes=3 * GiB)
    host.advance(60.0)
    return SimBackend(host, clock=clock)


def test_reading_of_a_guest_at_rest() -> None:
    clock = Clock()
    driver = SimBalloon(sim_backend(clock), "vm1")
    r = driver.state()
    assert (r.target_bytes, r.actual_bytes, r.max_bytes) == (4 * GiB, 4 * GiB, 4 * GiB)
    assert r.updated_at == clock.now
    assert r.guest is not None
    assert r.guest.available_bytes == 4 * GiB  # the guest's MemTotal is its actual size
    assert r.guest.swap_out_bytes == 0 and r.guest.swap_in_bytes == 0
    assert driver.capabilities() == BalloonCapabilities(guest_stats=True)


def test_inflating_below_the_working_set_makes_the_guest_swap_and_reports_it() -> None:
    clock = Clock()
    backend = sim_backend(clock)
    driver = SimBalloon(backend, "vm1")
    driver.set_target(2 * GiB)
    clock.now += 1.0  # half-way at 0.5 GiB/s: 3.5 GiB, still above the working set
    mid = driver.state()
    assert mid.target_bytes == 2 * GiB and mid.actual_bytes == 3 * GiB + GiB // 2
    assert mid.guest is not None and mid.guest.swap_out_bytes == 0
    clock.now += 10.0
    done = driver.state()
    assert done.actual_bytes == 2 * GiB
    assert done.guest is not None
    assert done.guest.swap_out_bytes == 1 * GiB  # 3 GiB working set in 2 GiB of memory
    assert done.guest.usable_bytes == 0  # nothing left to give without more swapping
    # Deflating brings the working set back in.
    driver.set_target(4 * GiB)
    clock.now += 10.0
    back = driver.state()
    assert back.actual_bytes == 4 * GiB
    assert back.guest is not None and back.guest.swap_in_bytes == 1 * GiB


@pytest.mark.parametrize("target", [0, PAGE_BYTES - 1, 4 * GiB + 1])
def test_bad_targets_are_refused_with_nothing_changed(target: int) -> None:
    clock = Clock()
    backend = sim_backend(clock)
    driver = SimBalloon(backend, "vm1")
    before = backend.with_host(lambda h: h.vm("vm1"))
    with pytest.raises(BalloonError) as err:
        driver.set_target(target)
    assert err.value.vm == "vm1" and "refused target" in str(err.value)
    assert backend.with_host(lambda h: h.vm("vm1")) == before


def test_errors_name_the_vm_and_the_cause() -> None:
    backend = sim_backend(Clock())
    with pytest.raises(BalloonError, match=r"'ghost'.*no VM named"):
        SimBalloon(backend, "ghost").state()
    backend.with_host(lambda h: h.stop_vm("vm1"))
    with pytest.raises(BalloonError, match=r"'vm1'.*not running"):
        SimBalloon(backend, "vm1").set_target(GiB)
    assert backend.balloon("ghost") is None


def test_observe_carries_the_full_balloon_state_across_the_wire() -> None:
    clock = Clock()
    backend = sim_backend(clock, balloon_rate_gib_s=None)
    backend.with_host(lambda h: h.set_balloon_target("vm1", 2 * GiB))
    (vm,) = backend.observe().vms
    assert vm.balloon is not None
    assert vm.balloon.driver == "sim" and vm.balloon.max_bytes == 4 * GiB
    assert vm.balloon.updated_at == clock.now
    back = vm_from_proto(vm_to_proto(vm, 1.0))
    assert back.balloon == vm.balloon


def set_balloon(command_id: str, vm: str, target: int) -> link_pb2.Command:
    return link_pb2.Command(
        id=command_id, epoch=1, set_balloon=link_pb2.SetBalloon(vm=vm, target_bytes=target)
    )


async def test_set_balloon_command_is_applied_once_and_asks_for_a_report() -> None:
    backend = sim_backend(Clock(), balloon_rate_gib_s=None)
    reports: list[int] = []
    executor = Executor(AppliedLog(), lambda: reports.append(1))
    executor.register("set_balloon", SetBalloonHandler(backend, lambda: reports.append(1)))
    assert "set-balloon" in executor.kinds

    first = await executor.execute(set_balloon("c1", "vm1", 3 * GiB))
    assert first.ok, first.message
    assert backend.with_host(lambda h: h.vm("vm1").balloon_target_bytes) == 3 * GiB
    assert reports == [1]
    # The operator moves the balloon by hand meanwhile; a repeated id must not undo it.
    backend.with_host(lambda h: h.set_balloon_target("vm1", 2 * GiB))
    again = await executor.execute(set_balloon("c1", "vm1", 3 * GiB))
    assert again.ok and again.duplicate
    assert backend.with_host(lambda h: h.vm("vm1").balloon_target_bytes) == 2 * GiB


@pytest.mark.parametrize(
    ("vm", "target", "message"),
    [
        ("vm1", 0, "refused target of 0 bytes"),
        ("vm1", 5 * GiB, "above the VM's maximum"),
        ("ghost", GiB, "'ghost' is not on this host"),
        ("", GiB, "names no VM"),
    ],
)
async def test_set_balloon_command_refused_with_nothing_changed(
    vm: str, target: int, message: str
) -> None:
    backend = sim_backend(Clock(), balloon_rate_gib_s=None)
    executor = Executor(AppliedLog(), lambda: None)
    executor.register("set_balloon", SetBalloonHandler(backend, lambda: None))
    before = backend.with_host(lambda h: h.vm("vm1"))
    result = await executor.execute(set_balloon("c1", vm, target))
    assert not result.ok
    assert message in result.message
    assert backend.with_host(lambda h: h.vm("vm1")) == before
