"""`mom`: oVirt MOM's default balloon rules, as a baseline for the benchmark.

Described from MOM's `doc/balloon.rules` (oVirt/mom) and the copy oVirt ships in vdsm
(`static/etc/vdsm/mom.d/02-balloon.policy`), whose variant is modelled here. Every
policy cycle MOM computes the host's free share h = free / total and then, guest by
guest, with cur the guest's current balloon size and used = cur - unused (the guest's
MemFree is its "unused" memory; page cache counts as used):

* Pressure (h < 0.20): the free share a guest is allowed is scaled with the pressure —
  0.20 * h / 0.20 normally, h - 0.05 when critical (h <= 0.05; negative, so the guest
  is pushed into swap). Its floor is max(guaranteed minimum, used + that share * cur);
  it shrinks to max(95 % of cur, floor), only downwards, and only if the change is more
  than 0.25 % of cur.
* Otherwise: a ballooned guest grows to max(105 % of cur, floor) capped at its maximum,
  with the floor computed as above from h (so a guest may also jump up to used + h * cur),
  again only if the change is more than 0.25 % of cur.
* A guest below its guaranteed minimum is set to it. A guest without memory statistics
  is left alone ("memory information is missing").

What MOM does not do, and numaplane does: look at NUMA nodes, weigh guests by shares or
idle memory, keep a band between shrinking and growing (it grows as soon as h is back
at 0.20), count balloons still moving. MOM averages host free memory over its sampling
window (`StatAvg`); here each period's reading is used as is. The guaranteed minimum is
the VM's reservation and the maximum its maximum memory (MOM has no limits).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from numaplane.controller.policy.balloon.decisions import (
    BalloonDecision,
    HostBalloonPlan,
    HostState,
)
from numaplane.controller.policy.balloon.inputs import BalloonHost, BalloonVm
from numaplane.controller.policy.balloon.work import pct, size

NAME = "mom"


@dataclass(frozen=True)
class MomSettings:
    pressure_threshold: float = 0.20
    pressure_critical: float = 0.05
    min_guest_free_percent: float = 0.20
    max_balloon_change_percent: float = 0.05
    min_balloon_change_percent: float = 0.0025
    enabled: bool = True
    """vdsm's `balloonEnabled`: off, and guests only grow."""


class MomBalloonPolicy:
    name = NAME

    def __init__(self, settings: MomSettings | None = None) -> None:
        self.settings = settings or MomSettings()

    def decide(self, hosts: Iterable[BalloonHost]) -> tuple[HostBalloonPlan, ...]:
        return tuple(mom_host(h, self.settings) for h in sorted(hosts, key=lambda h: h.name))


def mom_host(host: BalloonHost, s: MomSettings) -> HostBalloonPlan:
    total = host.total_bytes
    h = host.free_bytes / total if total > 0 else 1.0
    shrink = h < s.pressure_threshold and s.enabled
    state: HostState = (
        "critical" if h <= s.pressure_critical else "pressure" if h < s.pressure_threshold
        else "relief"
    )
    if h <= s.pressure_critical:
        guest_free = h - 0.05
    else:
        guest_free = s.min_guest_free_percent * h / s.pressure_threshold
    decisions = []
    for vm in sorted(host.vms, key=lambda v: v.name):
        if not vm.auto:
            continue
        d = _guest(vm, host.name, shrink, guest_free, s)
        if d is not None:
            decisions.append(d)
    return HostBalloonPlan(
        host=host.name,
        state=state,
        free_fraction=h,
        decisions=tuple(decisions),
        reasons=(f"host free {pct(h)}: {'shrink' if shrink else 'grow'} guests",),
    )


def _guest(
    vm: BalloonVm, host: str, shrink: bool, guest_free: float, s: MomSettings
) -> BalloonDecision | None:
    cur = vm.actual_bytes
    minimum = vm.floor_bytes
    if cur < minimum:
        return _decision(vm, host, minimum, "below its guaranteed minimum: set to it")
    if vm.guest is None:
        return None
    used = cur - vm.guest.free_bytes
    floor = max(minimum, int(used + guest_free * cur))
    if shrink:
        new = max(int(cur * (1 - s.max_balloon_change_percent)), floor)
        if new > cur or not _big_enough(vm, new, s):
            return None
        why = f"shrink: guest used {size(used)}, allowed free {pct(guest_free)} of {size(cur)}"
    else:
        if cur >= vm.max_bytes:
            return None
        new = min(max(int(cur * (1 + s.max_balloon_change_percent)), floor), vm.max_bytes)
        if not _big_enough(vm, new, s):
            return None
        why = f"grow: +{pct(s.max_balloon_change_percent)} or to used + {pct(guest_free)}"
    return _decision(vm, host, new, why)


def _big_enough(vm: BalloonVm, new: int, s: MomSettings) -> bool:
    return abs(new - vm.actual_bytes) > s.min_balloon_change_percent * vm.actual_bytes


def _decision(vm: BalloonVm, host: str, target: int, why: str) -> BalloonDecision | None:
    if target == vm.target_bytes:
        return None
    return BalloonDecision(vm=vm.name, host=host, target_bytes=target,
                           previous_bytes=vm.target_bytes, reasons=(why,))
