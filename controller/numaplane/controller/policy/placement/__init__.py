"""Placement policies by name: `first-fit`, `xen`, `numad` and `numaplane` (the default).

The reconciler and the benchmark harness both pick a policy here, so a name in a VM's
spec, the cluster config and `numaplane-bench --policy` mean the same code. A policy is
an object with `name`, `uses_claims` (whether it subtracts claims in flight — the
harness gives claims only to policies that use them, as baselines model toolstacks
without reservations), `place(request, cluster)` and, for policies that also move memory
after boot (numad), `plan(cluster)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol, runtime_checkable

from numaplane.controller.policy.placement.cluster_choice import NumaplanePlacement
from numaplane.controller.policy.placement.first_fit import FirstFitPlacement
from numaplane.controller.policy.placement.numad import NumadPolicy
from numaplane.controller.policy.placement.settings import NumaplaneSettings
from numaplane.controller.policy.placement.xen import XenPlacement
from numaplane.controller.policy.types import Action, ClusterView, PlacementDecision, VmRequest

DEFAULT_POLICY = "numaplane"


@runtime_checkable
class NamedPlacementPolicy(Protocol):
    name: str
    uses_claims: bool

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision: ...


@runtime_checkable
class PlanningPolicy(Protocol):
    """A placement policy that also rebalances after boot (numad)."""

    def plan(self, cluster: ClusterView) -> tuple[Action, ...]: ...


PLACEMENT_POLICIES: Mapping[str, Callable[[], NamedPlacementPolicy]] = MappingProxyType(
    {
        "first-fit": FirstFitPlacement,
        "xen": XenPlacement,
        "numad": NumadPolicy,
        "numaplane": NumaplanePlacement,
    }
)


class UnknownPolicyError(KeyError):
    """A policy name that is not registered; the message lists the known ones."""

    def __str__(self) -> str:
        return str(self.args[0])


def get_placement_policy(name: str | None = None) -> NamedPlacementPolicy:
    """A fresh policy object for `name` (None = the default, numaplane)."""
    key = DEFAULT_POLICY if name is None else name
    try:
        factory = PLACEMENT_POLICIES[key]
    except KeyError:
        known = ", ".join(sorted(PLACEMENT_POLICIES))
        raise UnknownPolicyError(
            f"unknown placement policy {key!r}; known policies: {known}"
        ) from None
    return factory()


__all__ = [
    "DEFAULT_POLICY",
    "PLACEMENT_POLICIES",
    "FirstFitPlacement",
    "NamedPlacementPolicy",
    "NumadPolicy",
    "NumaplanePlacement",
    "NumaplaneSettings",
    "PlanningPolicy",
    "UnknownPolicyError",
    "XenPlacement",
    "get_placement_policy",
]
