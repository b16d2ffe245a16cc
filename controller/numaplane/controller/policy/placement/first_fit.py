"""`first-fit`: the first host that has room, and no NUMA awareness at all.

What a scheduler without NUMA knowledge does (the benchmark's NUMA-blind baseline): walk
the hosts in order, take the first one with enough free memory in total and enough CPUs,
and start the VM unbound — all nodes, no memory binding, no per-node claim — so that its
memory lands first-touch wherever its vCPUs happen to run and spills to other nodes when
that one is full. It reads free memory as last observed and does not see claims in
flight (`uses_claims = False`): parallel requests can pick the same room twice, as a
toolstack without reservations does.

`first_fit_host` is shared with the `xen` and `numad` policies, which model per-host
tools whose host was picked the same way.
"""

from __future__ import annotations

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.considered import ConsideredLog
from numaplane.controller.policy.placement.constraints import HostFilter
from numaplane.controller.policy.placement.cpu_choice import all_cpus
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.pinned import pinned_placement
from numaplane.controller.policy.types import (
    Candidate,
    ClusterView,
    Placement,
    PlacementDecision,
    VmRequest,
)

NAME = "first-fit"


def first_fit_host(
    request: VmRequest,
    cluster: ClusterView,
    log: ConsideredLog,
    *,
    use_claims: bool,
    record_choice: bool = True,
) -> HostState | None:
    """The first host, in cluster order, that passes the host rules and has room in total.

    Each host looked at before it is logged with its reason; the chosen host is logged
    as valid (score 0) when `record_choice` (the per-host policies log their own node
    sets instead). Hosts after it are not looked at.
    """
    rules = HostFilter.for_request(request, cluster)
    target = MemoryDemand.of(request).target_bytes
    for host in cluster.hosts:
        rejection = rules.rejection(host)
        if rejection is not None:
            log.rejected(
                Candidate(host=host.name, nodes=(), rejected=rejection.text), rejection.kind
            )
            continue
        state = HostState.of(host, use_claims=use_claims)
        room = sum(state.by_id[n.id].available_bytes for n in rules.allowed_nodes(host))
        if room >= target:
            if record_choice:
                log.valid((), host.name, host.topology.node_ids, 0.0)
            return state
        log.rejected(
            Candidate(
                host=host.name,
                nodes=(),
                rejected=f"{format_size(room)} free for {format_size(target)}",
            ),
            "not enough free memory",
        )
    return None


class FirstFitPlacement:
    """No NUMA awareness: first host with room, VM unbound."""

    name = NAME
    uses_claims = False

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        log = ConsideredLog()
        rules = HostFilter.for_request(request, cluster)
        if (missing := rules.unknown_host(cluster)) is not None:
            return PlacementDecision(
                vm=request.name, policy=NAME, placement=None, reasons=(missing,)
            )
        host = first_fit_host(request, cluster, log, use_claims=self.uses_claims)
        if host is None:
            return PlacementDecision(
                vm=request.name,
                policy=NAME,
                placement=None,
                reasons=("no host has room", *log.summary()),
                considered=log.candidates(),
            )
        target = MemoryDemand.of(request).target_bytes
        if request.nodes is not None:
            placement, why = pinned_placement(host, request.nodes, target)
            return PlacementDecision(
                vm=request.name,
                policy=NAME,
                placement=placement,
                reasons=(f"first host with room: {host.name}", why),
                considered=log.candidates(),
            )
        placement = Placement(
            host=host.name,
            nodes=host.view.topology.node_ids,
            memory_by_node={},
            cpus=all_cpus(host),
            bind_memory=False,
        )
        return PlacementDecision(
            vm=request.name,
            policy=NAME,
            placement=placement,
            reasons=(
                f"first host with room: {host.name}",
                "unbound: memory lands first-touch where the vCPUs run",
            ),
            considered=log.candidates(),
        )
