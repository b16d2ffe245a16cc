"""One placement decision for one VM spec: request, policy, and the claim to write.

The policy (pure) chooses; this module turns a stored `VmSpec` into the policy's
`VmRequest`, picks the policy (the spec's, else the cluster default from
`config/policy`, else numaplane), and — whatever the policy — checks the result against
the view's memory *after claims in flight* before anything is claimed. Baseline policies
model toolstacks that do not see claims (`uses_claims = False`); the reconciler still
never lets them overfill a node: a choice that does not fit after claims leaves the VM
pending with that reason, and it is decided again when something changes.

The claim is the placement's memory per node when the policy gives one; otherwise (a
policy that lets first touch decide) the VM's boot memory spread over the chosen nodes
in proportion to their room — an estimate, but one that is counted.

A VM boots with its target memory (its limit, else its size). A policy may claim less
when nothing holds the target (numaplane's overcommit: the reservation fits, the rest is
left to the balloon policy); such a VM is started with its balloon at the claim, and only
if it has a reservation — a VM that guarantees nothing is not squeezed into whatever
crumb of memory is left: it stays pending until its target fits.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import format_size
from numaplane.controller.policy.placement import (
    DEFAULT_POLICY,
    PLACEMENT_POLICIES,
    NamedPlacementPolicy,
    get_placement_policy,
)
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.placement.memory_split import split_proportionally
from numaplane.controller.policy.types import (
    Affinity,
    ClusterView,
    HostView,
    Placement,
    PlacementDecision,
    VmRequest,
)
from numaplane.controller.state.snapshot import ClusterSnapshot
from numaplane.v1 import link_pb2
from numaplane.v1.state_pb2 import VmSpec


def vm_request(spec: VmSpec) -> VmRequest:
    affinity: Affinity | None = None
    if spec.affinity == "affinity":
        affinity = "affinity"
    elif spec.affinity == "anti-affinity":
        affinity = "anti-affinity"
    return VmRequest(
        name=spec.name,
        vcpus=spec.vcpus,
        memory_bytes=spec.memory_bytes,
        reservation_bytes=spec.reservation_bytes,
        limit_bytes=spec.limit_bytes or None,
        shares=spec.shares or 1000,
        host=spec.host or None,
        nodes=tuple(spec.nodes) or None,
        group=spec.group or None,
        affinity=affinity,
        policy=spec.policy or None,
    )


def policy_name(spec: VmSpec, snapshot: ClusterSnapshot) -> str:
    """The spec's policy, else the cluster default when it names a known one."""
    if spec.policy:
        return spec.policy
    configured = snapshot.policy.default_placement if snapshot.policy is not None else ""
    return configured if configured in PLACEMENT_POLICIES else DEFAULT_POLICY


@dataclass(frozen=True)
class Outcome:
    decision: PlacementDecision
    claim: dict[int, int] | None = None
    """Memory per node to claim; None when the VM stays pending."""
    pending_reason: str = ""
    boot_bytes: int = 0
    """Memory the VM boots with when it is overcommitted (its claim); 0 = its target."""


def decide(spec: VmSpec, snapshot: ClusterSnapshot, view: ClusterView) -> Outcome:
    name = policy_name(spec, snapshot)
    policy: NamedPlacementPolicy = get_placement_policy(name)
    request = vm_request(spec)
    decision = policy.place(request, view)
    placement = decision.placement
    if placement is None:
        first = decision.reasons[0] if decision.reasons else f"{name} found no place"
        return Outcome(decision, pending_reason=first)
    host = view.host(placement.host)
    if host is None:
        return Outcome(decision, pending_reason=f"{name} chose unknown host {placement.host}")
    claim, problem = claim_for(request, placement, host)
    if claim is None:
        return Outcome(decision, pending_reason=problem)
    target = MemoryDemand.of(request).target_bytes
    claimed = sum(claim.values())
    if claimed >= target:
        return Outcome(decision, claim=claim)
    if request.reservation_bytes <= 0:
        return Outcome(
            decision,
            pending_reason=(
                f"no host can hold {format_size(target)} and {request.vcpus} vCPUs "
                "(without a reservation a VM is not started overcommitted)"
            ),
        )
    return Outcome(decision, claim=claim, boot_bytes=claimed)


def claim_for(
    request: VmRequest, placement: Placement, host: HostView
) -> tuple[dict[int, int] | None, str]:
    """The claim per node, or None and why it does not fit after claims in flight."""
    claim = {n: b for n, b in placement.memory_by_node.items() if b > 0}
    if not claim:
        target = MemoryDemand.of(request).target_bytes
        nodes = placement.nodes or host.topology.node_ids
        room = {n: max(0, host.available_bytes(n)) for n in nodes}
        split = split_proportionally(target, list(nodes), room)
        if split is None:
            return None, (
                f"{placement.host} nodes {_ids(nodes)} have {format_size(sum(room.values()))} "
                f"after claims in flight, not {format_size(target)}"
            )
        claim = split
    for node, b in sorted(claim.items()):
        if not host.topology.has_node(node):
            return None, f"{placement.host} has no node {node}"
        available = host.available_bytes(node)
        if b > available:
            return None, (
                f"{placement.host} node {node} has {format_size(max(0, available))} after "
                f"claims in flight, not {format_size(b)}"
            )
    return claim, ""


def start_command(
    spec: VmSpec, placement: Placement, host: HostView, boot_bytes: int = 0
) -> link_pb2.StartVm:
    """The StartVm for a placement: memory bound to its nodes (unless it binds nothing),
    booted at `boot_bytes` when overcommitted."""
    nodes = tuple(placement.nodes)
    unbound = not placement.bind_memory and set(nodes) >= set(host.topology.node_ids)
    return link_pb2.StartVm(
        name=spec.name,
        vcpus=spec.vcpus,
        memory_bytes=spec.memory_bytes,
        nodes=[] if unbound else list(nodes),
        cpus=list(placement.cpus),
        strict_memory=placement.bind_memory,
        reservation_bytes=spec.reservation_bytes,
        limit_bytes=boot_bytes or spec.limit_bytes,
    )


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(map(str, nodes))
