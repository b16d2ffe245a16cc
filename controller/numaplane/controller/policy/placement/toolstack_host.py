"""The start shared by the per-host toolstack baselines (`xen`, `numad`).

Both model a tool that sees one host only: the host is picked first-fit (no cluster
view, no claims), an unknown `--host` is refused, and pinned `--nodes` are honoured as
given. Only what each tool does *on* the host differs, so that is all their modules
hold.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.controller.policy.placement.considered import ConsideredLog
from numaplane.controller.policy.placement.constraints import HostFilter
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.placement.first_fit import first_fit_host
from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.pinned import pinned_placement
from numaplane.controller.policy.types import ClusterView, Placement, PlacementDecision, VmRequest


@dataclass(frozen=True)
class HostChoice:
    host: HostState
    target_bytes: int
    reason: str
    """Names the host and why it was taken; the first of the decision's reasons."""


def decision(
    policy: str,
    request: VmRequest,
    placement: Placement | None,
    reasons: tuple[str, ...],
    log: ConsideredLog,
) -> PlacementDecision:
    return PlacementDecision(
        vm=request.name,
        policy=policy,
        placement=placement,
        reasons=reasons,
        considered=log.candidates(),
    )


def toolstack_host(
    policy: str,
    request: VmRequest,
    cluster: ClusterView,
    log: ConsideredLog,
    *,
    use_claims: bool,
) -> HostChoice | PlacementDecision:
    """The host to place on, or the whole decision when nothing is left to choose."""
    rules = HostFilter.for_request(request, cluster)
    if (missing := rules.unknown_host(cluster)) is not None:
        return decision(policy, request, None, (missing,), log)
    host = first_fit_host(request, cluster, log, use_claims=use_claims, record_choice=False)
    if host is None:
        return decision(policy, request, None, ("no host has room", *log.summary()), log)
    target = MemoryDemand.of(request).target_bytes
    chosen = f"first host with room: {host.name}"
    if request.nodes is not None:
        placement, why = pinned_placement(host, request.nodes, target)
        return decision(policy, request, placement, (chosen, why), log)
    return HostChoice(host, target, chosen)
