"""Balloon policies by name: `numaplane` (the controller's), `mom` and `none` (baselines).

A balloon policy reads `BalloonHost`s (per host: nodes' memory, VMs' balloons, bounds and
shares) and returns one `HostBalloonPlan` per host: its reading of the pressure and the
new targets, each with its reasons. The leader's balloon loop runs `numaplane`; the
benchmark runs any of them on the same inputs, built from its simulator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from types import MappingProxyType
from typing import Protocol

from numaplane.controller.policy.balloon.decisions import (
    BalloonDecision,
    HostBalloonPlan,
    HostState,
)
from numaplane.controller.policy.balloon.inputs import (
    DEFAULT_SHARES,
    BalloonHost,
    BalloonVm,
    GuestStats,
    NodeState,
)
from numaplane.controller.policy.balloon.mom import MomBalloonPolicy, MomSettings
from numaplane.controller.policy.balloon.per_host import NumaplaneBalloonPolicy, decide_host
from numaplane.controller.policy.balloon.settings import BalloonSettings


class BalloonPolicy(Protocol):
    name: str

    def decide(self, hosts: Iterable[BalloonHost]) -> tuple[HostBalloonPlan, ...]: ...


class NoBalloonPolicy:
    """`none`: balloons stay where they are (the memory is simply overcommitted)."""

    name = "none"

    def decide(self, hosts: Iterable[BalloonHost]) -> tuple[HostBalloonPlan, ...]:
        return ()


BALLOON_POLICIES: Mapping[str, Callable[[], BalloonPolicy]] = MappingProxyType(
    {"none": NoBalloonPolicy, "mom": MomBalloonPolicy, "numaplane": NumaplaneBalloonPolicy}
)


def get_balloon_policy(name: str) -> BalloonPolicy:
    try:
        return BALLOON_POLICIES[name]()
    except KeyError:
        known = ", ".join(BALLOON_POLICIES)
        raise KeyError(f"unknown balloon policy {name!r}; known: {known}") from None


__all__ = [
    "BALLOON_POLICIES",
    "DEFAULT_SHARES",
    "BalloonDecision",
    "BalloonHost",
    "BalloonPolicy",
    "BalloonSettings",
    "BalloonVm",
    "GuestStats",
    "HostBalloonPlan",
    "HostState",
    "MomBalloonPolicy",
    "MomSettings",
    "NoBalloonPolicy",
    "NodeState",
    "NumaplaneBalloonPolicy",
    "decide_host",
    "get_balloon_policy",
]
