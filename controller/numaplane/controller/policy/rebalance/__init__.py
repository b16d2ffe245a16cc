"""Rebalancing: the pure policy that plans NUMA memory, vCPU and host moves.

`NumaplaneRebalancer.plan(cluster)` returns `MemoryMove`, `AffinityChange` and `HostMove`
actions, each with its reason; `numaplane.controller.rebalance` runs it on the leader, the
benchmark on its simulator (`numaplane.bench.policies`, as the `numaplane` rebalancer).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.planner import NumaplaneRebalancer, PlannedAction
from numaplane.controller.policy.rebalance.settings import RebalanceSettings


def _spreading() -> NumaplaneRebalancer:
    return NumaplaneRebalancer(RebalanceSettings(allow_spread=True))


REBALANCE_POLICIES: Mapping[str, Callable[[], NumaplaneRebalancer]] = MappingProxyType(
    {"numaplane": NumaplaneRebalancer, "numaplane-spread": _spreading}
)
"""Rebalancers by name (the bench composes them with placement policies);
`numaplane-spread` is the same with `allow_spread` (see its settings)."""

__all__ = [
    "REBALANCE_POLICIES",
    "NumaplaneRebalancer",
    "PlannedAction",
    "RebalanceContext",
    "RebalanceSettings",
]
