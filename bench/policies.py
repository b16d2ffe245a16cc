"""The policies the benchmark can run, by name.

Every placement policy of the controller (`controller.policy.placement.PLACEMENT_POLICIES`:
first-fit, xen, numad, numaplane) is here under the same name, so the bench runs the
very code the reconciler runs. A later policy plugs in by being added to that registry —
or, for a bench-only experiment, by `register(name, factory)` — with no harness change.

What the harness asks of a policy object (duck-typed, see `controller.policy.types`):
- `name: str` and `place(request, cluster) -> PlacementDecision`;
- optional `plan(cluster) -> tuple[Action, ...]`, called once per tick to rebalance;
- optional `uses_claims: bool` (False when absent): whether its views carry the claims
  of placements whose memory is not yet seen. Baselines model toolstacks without
  reservations, so requests of one parallel burst do not see each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from controller.policy.placement import PLACEMENT_POLICIES
from controller.policy.types import Action, ClusterView, PlacementDecision, VmRequest


class BenchPolicy(Protocol):
    name: str

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision: ...


PolicyFactory = Callable[[], BenchPolicy]

_EXTRA: dict[str, PolicyFactory] = {}


class UnknownPolicy(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def register(name: str, factory: PolicyFactory) -> None:
    """Add a bench-only policy (tests, experiments); controller policies need no call."""
    if name in PLACEMENT_POLICIES or name in _EXTRA:
        raise ValueError(f"a policy named {name!r} is already registered")
    _EXTRA[name] = factory


def unregister(name: str) -> None:
    """Remove a bench-only policy (a test cleaning up after itself)."""
    _EXTRA.pop(name, None)


def policy_names() -> tuple[str, ...]:
    return (*PLACEMENT_POLICIES, *sorted(_EXTRA))


def create_policy(name: str) -> BenchPolicy:
    """A fresh policy object (policies may keep state between calls within a run)."""
    factory: PolicyFactory | None = PLACEMENT_POLICIES.get(name) or _EXTRA.get(name)
    if factory is None:
        raise UnknownPolicy(f"unknown policy {name!r}; known: {', '.join(policy_names())}")
    return factory()


def uses_claims(policy: object) -> bool:
    return bool(getattr(policy, "uses_claims", False))


def planner(policy: object) -> Callable[[ClusterView], tuple[Action, ...]] | None:
    """The policy's `plan` method, if it rebalances."""
    plan = getattr(policy, "plan", None)
    return plan if callable(plan) else None
