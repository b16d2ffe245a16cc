"""`numaplane`: the host and the NUMA nodes chosen together, across the whole cluster.

The cluster's default policy. For a request it:

1. applies the host rules every policy obeys (`constraints.py`: schedulable hosts only,
   the operator's host and nodes, affinity and anti-affinity groups, enough CPUs);
2. reads every remaining host's nodes with claims in flight subtracted
   (`uses_claims = True`), so that requests decided before their VMs are observed cannot
   overfill a node — and with the vCPUs of those claims counted as load, so that a burst
   of requests spreads instead of piling onto one node;
3. looks for the fewest nodes that hold the VM's target memory (its limit, else its
   size) and vCPUs — one node on any host beats two anywhere — and, when more than one
   node is needed, the nearest set by the distance matrix (`numaplane_fit.py` scores
   them: fewest nodes, smallest diameter, least CPU-loaded, best fit, hosts in use);
4. if no host can hold the target and the VM has a smaller reservation, places it where
   its reservation fits and claims what room there is (memory overcommit);
5. binds memory to the chosen set and vCPUs to its CPUs (least-loaded node first),
   claiming memory per node in proportion to each node's room — except for a VM with
   fewer vCPUs than the set has nodes, whose vCPUs get a home on the node(s) with the
   most room and whose memory is claimed there first (`numaplane_home.py`: first touch
   puts it there, and the VM is as local as the set allows).

Decision time is bounded: single nodes are checked on every host first without looking
at distances; only if no host has a node big enough are multi-node sets searched, hosts
in order of the fewest nodes they could possibly need, skipping those that cannot beat
the best found; within a host, subsets are enumerated only while there are at most
`exhaustive_limit` of them, and grown nearest-ring-first from each node above that.

`considered` keeps the best candidate of each host (the chosen one first) up to a bound,
a sample of rejections, and the reasons carry a count of every rejection by kind.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.considered import ConsideredLog
from numaplane.controller.policy.placement.constraints import HostFilter, Rejection
from numaplane.controller.policy.placement.cpu_choice import cpus_of_nodes
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.placement.host_fit import HostFit, Scored
from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.node_sets import FitNeed
from numaplane.controller.policy.placement.settings import NumaplaneSettings
from numaplane.controller.policy.placement.vcpu_home import split_home_first, vcpu_home
from numaplane.controller.policy.types import (
    Candidate,
    ClusterView,
    Placement,
    PlacementDecision,
    VmRequest,
)

NAME = "numaplane"
COST_LEGEND = (
    "cost, lower is better: 1e12 per extra node, 1e9 per unit of set diameter above 10, "
    "1e3 per unit of member distances above local, + CPU load (bands up to 1 vCPU/CPU, "
    "+100 per vCPU/CPU beyond), + 0.9 x share of the set left free, + 0.05 on an idle host"
)


@dataclass(frozen=True)
class _Choice:
    index: int
    fit: HostFit
    scored: Scored


class NumaplanePlacement:
    """Host and nodes chosen jointly, claims counted, every candidate explained."""

    name = NAME
    uses_claims = True

    def __init__(self, settings: NumaplaneSettings | None = None) -> None:
        self.settings = settings or NumaplaneSettings()

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        rules = HostFilter.for_request(request, cluster)
        if (missing := rules.unknown_host(cluster)) is not None:
            return PlacementDecision(
                vm=request.name, policy=NAME, placement=None, reasons=(missing,)
            )
        demand = MemoryDemand.of(request)
        # Claims in flight are VMs not yet observed: count their vCPUs at this request's
        # vCPU-to-memory ratio (see host_state.py).
        ratio = request.vcpus / demand.target_bytes if demand.target_bytes > 0 else 0.0
        filtered: list[tuple[str, Rejection]] = []
        fits: list[tuple[int, HostFit]] = []
        for index, host in enumerate(cluster.hosts):
            rejection = rules.rejection(host)
            if rejection is not None:
                filtered.append((host.name, rejection))
                continue
            state = HostState.of(host, use_claims=self.uses_claims, inflight_vcpus_per_byte=ratio)
            fits.append((index, HostFit.of(state, request.nodes, self.settings)))

        log = _log_with(filtered)
        need = FitNeed(memory_bytes=demand.target_bytes, cpus=request.vcpus)
        choice = self._search(fits, need, request, demand.target_bytes, log)
        overcommit = False
        if (
            choice is None
            and self.settings.place_on_reservation
            and demand.floor_bytes < demand.target_bytes
        ):
            log = _log_with(filtered)
            floor = FitNeed(memory_bytes=max(demand.floor_bytes, 1), cpus=request.vcpus)
            choice = self._search(fits, floor, request, demand.target_bytes, log)
            overcommit = choice is not None
        if choice is None:
            return PlacementDecision(
                vm=request.name,
                policy=NAME,
                placement=None,
                reasons=(
                    f"no host can hold {format_size(demand.target_bytes)} "
                    f"and {request.vcpus} vCPUs",
                    *log.summary(),
                ),
                considered=log.candidates(),
            )
        return self._decision(request, demand, choice, overcommit, log)

    def _search(
        self,
        fits: list[tuple[int, HostFit]],
        need: FitNeed,
        request: VmRequest,
        target_bytes: int,
        log: ConsideredLog,
    ) -> _Choice | None:
        best: _Choice | None = None
        multi: list[tuple[int, int, HostFit]] = []
        for index, fit in fits:
            single = fit.best_single(
                need, vcpus=request.vcpus, target_bytes=target_bytes, settings=self.settings
            )
            if single is not None:
                best = self._keep(index, fit, single, log, best)
                continue
            lower = fit.lower_bound(need)
            if lower is None:
                _reject(log, fit, _no_room(fit, need), "no node set holds it")
            else:
                multi.append((lower, index, fit))
        if best is not None:
            for lower, _, fit in multi:
                _reject(
                    log,
                    fit,
                    f"needs at least {lower} nodes; one node holds it on another host",
                    "needs more nodes than the chosen host",
                )
            return best
        multi.sort(key=lambda t: (t[0], t[1]))
        for lower, index, fit in multi:
            if best is not None and lower > len(best.scored.nodes):
                _reject(
                    log,
                    fit,
                    f"needs at least {lower} nodes; {len(best.scored.nodes)} hold it elsewhere",
                    "needs more nodes than the chosen host",
                )
                continue
            sets = fit.fitting_sets(need, self.settings)
            if not sets:
                _reject(log, fit, _no_room(fit, need), "no node set holds it")
                continue
            scored = fit.best(
                sets,
                vcpus=request.vcpus,
                target_bytes=target_bytes,
                settings=self.settings,
                bound=best.scored.cost if best is not None else float("inf"),
            )
            if scored is None:
                _reject(
                    log,
                    fit,
                    f"its best {len(sets[0])}-node sets are farther apart than the chosen one",
                    "worse than the chosen host",
                )
                continue
            best = self._keep(index, fit, scored, log, best)
        return best

    def _keep(
        self, index: int, fit: HostFit, scored: Scored, log: ConsideredLog, best: _Choice | None
    ) -> _Choice:
        """Log a host's best set; return whichever of it and `best` is better."""
        log.valid((scored.cost, index), fit.host.name, scored.nodes, round(scored.cost, 4))
        if best is None or (scored.cost, index) < (best.scored.cost, best.index):
            return _Choice(index=index, fit=fit, scored=scored)
        return best

    def _decision(
        self,
        request: VmRequest,
        demand: MemoryDemand,
        choice: _Choice,
        overcommit: bool,
        log: ConsideredLog,
    ) -> PlacementDecision:
        fit = choice.fit
        cost = fit.explain(
            choice.scored.nodes,
            vcpus=request.vcpus,
            target_bytes=demand.target_bytes,
            settings=self.settings,
        )
        home = vcpu_home(cost.nodes, request.vcpus, fit.memory, fit.host)
        distance = fit.distance() if len(cost.nodes) > 1 else None
        claims = split_home_first(cost.claim_bytes, cost.nodes, home, fit.memory, distance) or {}
        placement = Placement(
            host=fit.host.name,
            nodes=cost.nodes,
            memory_by_node=claims,
            cpus=cpus_of_nodes(fit.host, home),
            bind_memory=True,
        )
        k = len(cost.nodes)
        shape = f"{k} node(s) {_ids(cost.nodes)}"
        if k > 1:
            shape += f", the nearest such set (diameter {cost.diameter})"
        reasons = [
            f"{fit.host.name}: {shape}: the fewest nodes that hold "
            f"{format_size(cost.claim_bytes)} and {request.vcpus} vCPUs",
            f"vCPU load after placement {cost.load_after:.2f} per CPU; "
            f"leaves {format_size(cost.leftover_bytes)} free on those nodes",
            f"score {cost.cost:.4f} ({COST_LEGEND})",
        ]
        claimed = sum(fit.host.view.claimed_by_node.values())
        if claimed:
            reasons.append(f"claims in flight counted: {format_size(claimed)} on {fit.host.name}")
        if overcommit:
            reasons.append(
                f"overcommit: no host holds the target {format_size(demand.target_bytes)}; "
                f"claims {format_size(cost.claim_bytes)} here, reservation "
                f"{format_size(demand.floor_bytes)} guaranteed"
            )
        return PlacementDecision(
            vm=request.name,
            policy=NAME,
            placement=placement,
            reasons=(*reasons, *log.summary()),
            considered=log.candidates(),
        )


def _log_with(filtered: list[tuple[str, Rejection]]) -> ConsideredLog:
    log = ConsideredLog()
    for host, rejection in filtered:
        log.rejected(Candidate(host=host, nodes=(), rejected=rejection.text), rejection.kind)
    return log


def _reject(log: ConsideredLog, fit: HostFit, text: str, kind: str) -> None:
    log.rejected(Candidate(host=fit.host.name, nodes=(), rejected=text), kind)


def _no_room(fit: HostFit, need: FitNeed) -> str:
    largest = max((fit.memory[n] for n in fit.nodes), default=0)
    total = sum(fit.memory.values())
    cpus = sum(fit.cpus.values())
    return (
        f"no node set holds {format_size(need.memory_bytes)} and {need.cpus} vCPUs "
        f"(largest node has {format_size(largest)} free, {format_size(total)} and "
        f"{cpus} CPUs in all)"
    )


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
