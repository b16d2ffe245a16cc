"""The policies the benchmark can run, by name.

Every placement policy of the controller
(`numaplane.controller.policy.placement.PLACEMENT_POLICIES`: first-fit, xen, numad, numaplane) is
here under the same name, so the bench runs the very code the reconciler runs. A later policy plugs
in by being added to that registry — or, for a bench-only experiment, by `register(name, factory)` —
with no harness change.

A name `PLACEMENT+REBALANCER` composes a placement policy with a rebalancer
(`Rebalanced`): `xen+numaplane` places as Xen's toolstack does and rebalances with
numaplane's rebalancer (`numaplane.controller.policy.rebalance`), `xen+numad` with numad's
one-move-per-interval loop, `xen+autonuma` with the Linux kernel's automatic NUMA
balancing (`numaplane.bench.autonuma`), `numad+none` is numad's placement without its
loop, and `numaplane+numaplane` is what the controller runs. A plain name keeps the
policy's own behaviour (only numad's has a `plan`), so placement figures stay comparable.

What the harness asks of a policy object (duck-typed, see `numaplane.controller.policy.types`):
- `name: str` and `place(request, cluster) -> PlacementDecision`;
- optional `plan(cluster) -> tuple[Action, ...]`, called once per tick to rebalance;
- optional `kernel_step(cluster, dt)`, called once per tick right after `plan`, for a
  mechanism that acts inside each host at a finer grain than whole-VM actions (the
  kernel's NUMA balancing moves single vCPUs and pages): it changes the simulated hosts
  directly and may set `SimCluster.kernel_time_share`;
- optional `uses_claims: bool` (False when absent): whether its views carry the claims
  of placements whose memory is not yet seen. Baselines model toolstacks without
  reservations, so requests of one parallel burst do not see each other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from numaplane.bench.autonuma import AutoNuma
from numaplane.controller.policy.placement import PLACEMENT_POLICIES, NumadPolicy
from numaplane.controller.policy.rebalance import REBALANCE_POLICIES
from numaplane.controller.policy.types import Action, ClusterView, PlacementDecision, VmRequest

if TYPE_CHECKING:
    from numaplane.bench.cluster import SimCluster

Plan = Callable[[ClusterView], tuple[Action, ...]]


class KernelStep(Protocol):
    """A per-tick mechanism inside the hosts: acts on the simulated cluster for `dt` s."""

    def __call__(self, cluster: SimCluster, dt: float) -> None: ...


class BenchPolicy(Protocol):
    name: str

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision: ...


PolicyFactory = Callable[[], BenchPolicy]

_EXTRA: dict[str, PolicyFactory] = {}


class UnknownPolicy(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def _numad_plan() -> Plan:
    return NumadPolicy().plan


def _numaplane_plan(name: str) -> Callable[[], Plan]:
    return lambda: REBALANCE_POLICIES[name]().plan


REBALANCERS: dict[str, Callable[[], Plan | None]] = {
    **{name: _numaplane_plan(name) for name in REBALANCE_POLICIES},
    "numad": _numad_plan,
    "none": lambda: None,
}
"""Rebalancers a placement policy can be composed with (`PLACEMENT+REBALANCER`)."""

KERNEL_STEPS: dict[str, Callable[[], KernelStep]] = {"autonuma": AutoNuma}
"""Rebalancers that are kernel mechanisms, composed the same way but run as a kernel step."""


class Rebalanced:
    """A placement policy whose `plan` is a rebalancer's (or none), or that carries a
    rebalancer's kernel step."""

    def __init__(
        self,
        name: str,
        placement: BenchPolicy,
        plan: Plan | None,
        kernel_step: KernelStep | None = None,
    ) -> None:
        self.name = name
        self._placement = placement
        self.uses_claims = uses_claims(placement)
        if plan is not None:
            self.plan = plan
        if kernel_step is not None:
            self.kernel_step = kernel_step

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        return self._placement.place(request, cluster)


def rebalancer_names() -> tuple[str, ...]:
    return (*REBALANCERS, *KERNEL_STEPS)


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
    if "+" in name:
        placement, _, rebalancer = name.partition("+")
        make_step = KERNEL_STEPS.get(rebalancer)
        if make_step is not None:
            return Rebalanced(name, create_policy(placement), None, make_step())
        make_plan = REBALANCERS.get(rebalancer)
        if make_plan is None:
            known = ", ".join(rebalancer_names())
            raise UnknownPolicy(f"unknown rebalancer {rebalancer!r} in {name!r}; known: {known}")
        return Rebalanced(name, create_policy(placement), make_plan())
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


def kernel_step(policy: object) -> KernelStep | None:
    """The policy's `kernel_step`, if it carries one."""
    step = getattr(policy, "kernel_step", None)
    return step if callable(step) else None
