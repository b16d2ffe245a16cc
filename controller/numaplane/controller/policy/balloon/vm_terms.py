"""Per-VM quantities the balloon policy derives from its inputs, computed once per period.

Idle memory is what the guest reports as usable (MemAvailable: free plus reclaimable
cache); the rest of what it has is active. Without guest statistics nothing is known to be idle.

The idle memory tax (Waldspurger, OSDI 2002, section 5.2): a VM's claim to its memory is
its shares per *adjusted* byte, rho = shares / (active + k * idle), where k = 1 / (1 -
tax) makes an idle byte cost k active ones. Memory is reclaimed from VMs in proportion
to 1 / rho — more idle memory, fewer shares: more reclaimed — and given back to the
highest rho first (the most starved for their shares).
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.controller.policy.balloon.inputs import BalloonVm
from numaplane.controller.policy.balloon.settings import BalloonSettings


@dataclass(frozen=True)
class VmTerms:
    vm: BalloonVm
    current: int
    """The VM's target brought within [floor, ceiling]."""
    idle: int
    """Known-idle memory (0 without guest statistics)."""
    active: int
    headroom: int
    """Memory above its active set the guest keeps under normal pressure."""
    soft_floor: int
    """Lowest target under normal pressure: active + headroom (within the bounds); the
    reservation alone without guest statistics, as nothing better is known."""
    weight: float
    """Reclaim weight, 1 / rho: (active + k * idle) / shares."""
    rho: float
    """Shares per adjusted byte: the highest is the most starved."""
    starved: bool
    """The guest reports less available memory than its headroom, and may still grow."""

    @property
    def name(self) -> str:
        return self.vm.name


def vm_terms(vm: BalloonVm, settings: BalloonSettings) -> VmTerms:
    floor, ceiling = vm.floor_bytes, vm.ceiling_bytes
    current = min(max(vm.target_bytes, floor), ceiling)
    actual = max(0, vm.actual_bytes)
    idle = min(max(0, vm.guest.usable_bytes), actual) if vm.guest is not None else 0
    active = actual - idle
    headroom = int(settings.guest_headroom_fraction * vm.max_bytes)
    # Without guest statistics nothing better than the reservation is known.
    soft_floor = min(max(floor, active + headroom), ceiling) if vm.guest is not None else floor
    adjusted = active + settings.idle_cost * idle
    shares = max(1, vm.shares)
    return VmTerms(
        vm=vm,
        current=current,
        idle=idle,
        active=active,
        headroom=headroom,
        soft_floor=soft_floor,
        weight=adjusted / shares,
        rho=shares / max(1.0, adjusted),
        starved=vm.guest is not None and idle < headroom and current < ceiling,
    )
