"""The `sim` balloon driver: the simulated guest's balloon, behind the same contract.

The simulator's guest model (hostagent/numaplane/hostagent/drivers/sim/guest.py) is the source: the
target and actual size move at the host's balloon rate, and the guest's own figures follow from
its working set. Mapped onto libvirt's vocabulary like every driver:

- free (MemFree): memory the guest has that holds neither working set nor cache;
- available (MemTotal): the memory the guest has now (the actual size);
- usable (MemAvailable): free plus page cache, which the guest can drop without swapping;
- swap out / in: working set pushed to swap by inflating below it, and brought back.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from numaplane.common.vm import BalloonCapabilities, BalloonState, GuestMemoryStats
from numaplane.hostagent.drivers.contract import (
    BackendError,
    BalloonDriver,
    BalloonError,
    BalloonReading,
)

if TYPE_CHECKING:
    from numaplane.hostagent.drivers.sim.backend import SimBackend
    from numaplane.hostagent.drivers.sim.vm import SimVmState

SIM_CAPABILITIES = BalloonCapabilities(guest_stats=True)
"""The model reports guest statistics; it has no deflate-on-OOM or free page reporting."""


def sim_balloon_reading(vm: SimVmState, updated_at: float) -> BalloonReading:
    return BalloonReading(
        target_bytes=vm.balloon_target_bytes,
        actual_bytes=vm.guest_memory_bytes,
        max_bytes=vm.memory_bytes,
        updated_at=updated_at,
        guest=GuestMemoryStats(
            free_bytes=vm.guest_free_bytes,
            available_bytes=vm.guest_memory_bytes,
            usable_bytes=vm.guest_free_bytes + vm.guest_cache_bytes,
            swap_in_bytes=vm.swapped_in_total_bytes,
            swap_out_bytes=vm.swapped_out_total_bytes,
        ),
    )


def sim_balloon_state(vm: SimVmState, updated_at: float) -> BalloonState:
    """What a report carries for a simulated VM (the sim backend's observe uses this)."""
    r = sim_balloon_reading(vm, updated_at)
    return BalloonState(
        target_bytes=r.target_bytes, actual_bytes=r.actual_bytes, driver=SimBalloon.name,
        capabilities=SIM_CAPABILITIES, guest=r.guest, max_bytes=r.max_bytes,
        updated_at=r.updated_at,
    )


class SimBalloon(BalloonDriver):
    name = "sim"

    def __init__(self, backend: SimBackend, vm: str) -> None:
        super().__init__(vm)
        self._backend = backend

    def capabilities(self) -> BalloonCapabilities:
        return SIM_CAPABILITIES

    def max_bytes(self) -> int:
        return self._read().memory_bytes

    def state(self) -> BalloonReading:
        vm = self._read()
        return sim_balloon_reading(vm, self._backend.clock_time)

    def _apply_target(self, target_bytes: int) -> None:
        try:
            self._backend.with_host(lambda h: h.set_balloon_target(self.vm, target_bytes))
        except BackendError as e:
            raise BalloonError(self.vm, str(e)) from e

    def _read(self) -> SimVmState:
        try:
            return self._backend.with_host(lambda h: h.vm(self.vm))
        except BackendError as e:
            raise BalloonError(self.vm, str(e)) from e
