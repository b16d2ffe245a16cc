"""One host's working state during one policy period: targets as decided so far, the
free memory they will leave, and why each target moved.

Free memory is *projected*: a balloon still on its way to its target will free (or take)
`actual - target` more, so a host that was already asked to give memory back is not
asked twice while its balloons move (the level-triggered loop runs again before they
arrive). Every move updates the projection of the host and of each node, in proportion
to where the VM's memory sits (a balloon returns pages from the guest's memory wherever
it is).
"""

from __future__ import annotations

from collections.abc import Iterator

from numaplane.common.units import format_size
from numaplane.controller.policy.balloon.decisions import BalloonDecision
from numaplane.controller.policy.balloon.inputs import BalloonHost
from numaplane.controller.policy.balloon.settings import BalloonSettings
from numaplane.controller.policy.balloon.vm_terms import VmTerms, vm_terms

ALIGN = 1 << 20
"""Targets move in whole MiB (libvirt's and QEMU's balloon sizes are KiB/bytes; MiB keeps
the numbers readable and still far below any step worth making)."""


class HostWork:
    def __init__(self, host: BalloonHost, settings: BalloonSettings) -> None:
        self.host = host
        self.s = settings
        self.total = host.total_bytes
        self.node_total = {n.node: n.total_bytes for n in host.nodes}
        self.free = host.free_bytes + sum(v.actual_bytes - v.target_bytes for v in host.vms)
        self.node_free = {n.node: n.free_bytes for n in host.nodes}
        for v in host.vms:
            in_flight = v.actual_bytes - v.target_bytes
            for node in self.node_free:
                self.node_free[node] += round(in_flight * v.node_share(node))
        self.terms: dict[str, VmTerms] = {
            v.name: vm_terms(v, settings)
            for v in sorted(host.vms, key=lambda v: v.name)
            if v.auto and settings.enabled
        }
        self.targets = {name: t.vm.target_bytes for name, t in self.terms.items()}
        self.moved = dict.fromkeys(self.terms, 0)
        self.reasons: dict[str, list[str]] = {name: [] for name in self.terms}

    # -- reading -----------------------------------------------------------------------

    def fraction(self) -> float:
        return self.free / self.total if self.total > 0 else 1.0

    def node_fraction(self, node: int) -> float:
        total = self.node_total[node]
        return self.node_free[node] / total if total > 0 else 1.0

    def step(self, critical: bool = False) -> int:
        factor = self.s.critical_step_factor if critical else 1.0
        return int(self.s.max_step_bytes * factor)

    def step_left(self, name: str, critical: bool = False) -> int:
        return max(0, self.step(critical) - abs(self.moved[name]))

    def reclaim_room(self, name: str, critical: bool) -> int:
        """How far the VM's target may still go down this period."""
        t = self.terms[name]
        floor = t.vm.floor_bytes if critical else t.soft_floor
        return max(0, min(self.targets[name] - floor, self.step_left(name, critical)))

    def grow_room(self, name: str) -> int:
        t = self.terms[name]
        return max(0, min(t.vm.ceiling_bytes - self.targets[name], self.step_left(name)))

    def items(self) -> Iterator[tuple[str, VmTerms]]:
        return iter(self.terms.items())

    # -- acting ------------------------------------------------------------------------

    def move(self, name: str, new_target: int, reason: str, *, counts: bool = True) -> None:
        """Set a target; `counts` False for corrections into bounds (not a policy step)."""
        delta = new_target - self.targets[name]
        if delta == 0:
            return
        vm = self.terms[name].vm
        self.free -= delta
        for node in self.node_free:
            self.node_free[node] -= round(delta * vm.node_share(node))
        self.targets[name] = new_target
        if counts:
            self.moved[name] += delta
        self.reasons[name].append(reason)

    def decisions(self) -> tuple[BalloonDecision, ...]:
        out = []
        for name, t in self.terms.items():
            target = self.targets[name]
            if target != t.vm.target_bytes:
                out.append(
                    BalloonDecision(
                        vm=name,
                        host=self.host.name,
                        target_bytes=target,
                        previous_bytes=t.vm.target_bytes,
                        reasons=tuple(self.reasons[name]),
                    )
                )
        return tuple(out)


def pct(fraction: float) -> str:
    return f"{fraction * 100:.1f}%"


def size(n: int) -> str:
    return format_size(n)
