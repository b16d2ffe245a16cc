"""Knobs of the balloon policy, each with the source of its default and what it trades.

The cluster keeps them in etcd as `BalloonPolicyConfig` (`numaplane policy set
balloon.KEY=VALUE`); `numaplane.controller.policy.config` converts that record into this
dataclass. The last two fields are not in the record: they shape the rules rather
than tune them.

Defaults are documented against oVirt MOM's balloon rules (`doc/balloon.rules` in
oVirt/mom, shipped by oVirt as vdsm's `mom.d/02-balloon.policy`), which decide on the
host's free memory every 10 s policy cycle, and against VMware ESX's idle memory tax
(Waldspurger, "Memory Resource Management in VMware ESX Server", OSDI 2002, section 5).
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import MiB


@dataclass(frozen=True)
class BalloonSettings:
    enabled: bool = True
    """The cluster-wide switch: False, and no VM's balloon is moved by the policy (the
    operator's own targets still are)."""
    pressure_free_fraction: float = 0.20
    """A host (or NUMA node) whose free memory is below this share of its total is under
    pressure and balloons are inflated. MOM's `pressure_threshold` is 0.20."""
    critical_free_fraction: float = 0.05
    """Below this share the pressure is critical: reclaim may cut into the guests'
    working sets (down to reservations, never below) at `critical_step_factor` times
    the step, and no balloon is deflated. MOM's `pressure_critical` is 0.05 (there MOM
    aims guests at negative free memory, forcing them to swap)."""
    relief_free_fraction: float = 0.30
    """Balloons are deflated only when free memory is above this share: between the
    pressure and relief lines nothing is given back (hysteresis). MOM has no such band:
    it deflates as soon as free memory is back at 20 %, which invites oscillation around
    that line. Reclaim aims at the middle of the band."""
    max_step_bytes: int = 512 * MiB
    """Most a balloon moves per period (per VM). MOM moves at most 5 % of the guest's
    current memory per cycle (`max_balloon_change_percent`): about 400 MiB for 8 GiB."""
    min_change_bytes: int = 64 * MiB
    """Changes smaller than this are not made. MOM ignores changes under 0.25 % of the
    guest's memory (`min_balloon_change_percent`); 64 MiB is also the granularity at
    which the controller records a VM's observed balloon, so smaller targets could not
    be seen to have been reached."""
    idle_tax: float = 0.75
    """ESX's idle memory tax rate (its `Mem.IdleTax` default is 75 %): an idle byte
    costs 1 / (1 - tax) = 4 times an active one when deciding whom to reclaim from. 0
    reclaims by shares alone."""
    critical_step_factor: float = 2.0
    """Under critical pressure a step is this many times `max_step_bytes`."""
    guest_headroom_fraction: float = 0.05
    """Memory above its active set that a guest keeps, as a share of its maximum: normal
    pressure never reclaims below active + headroom, and a guest with less usable memory
    (MemAvailable) than the headroom is starved and grows first. MOM keeps 20 % of a
    guest free (`min_guest_free_percent`) scaled down with host pressure; MOM's free
    memory excludes page cache, MemAvailable includes it, hence a smaller share.

    Active memory is the guest's memory minus its MemAvailable."""

    @property
    def aim_free_fraction(self) -> float:
        """Reclaim brings free memory up to the middle of the hysteresis band."""
        return (self.pressure_free_fraction + self.relief_free_fraction) / 2

    @property
    def idle_cost(self) -> float:
        """k = 1 / (1 - tax): the weight of an idle byte against an active one."""
        return 1.0 / (1.0 - min(self.idle_tax, 0.99))
