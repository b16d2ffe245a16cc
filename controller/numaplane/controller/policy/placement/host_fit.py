"""numaplane's view of one host: which node sets can hold a VM, and what each costs.

The cost is one number, lower is better, made of terms whose ranges never overlap, so
that it orders candidates lexicographically and still reads as a score:

    cost = 1e14 x share of the target memory not claimable    (only when overcommitting)
         + 1e12 x (nodes - 1)                                  fewest nodes first
         + 1e9 x (set diameter - 10)                           then the nearest set:
         + 1e3 x (sum of distances between members - 10/pair)    tightest first
         + CPU load after placement, in bands (0..999)         then the least loaded
         + 0.9 x free memory left on the set / set's memory    then best fit
         + idle-host penalty (0.05)                            then hosts in use

Distances are SLIT values (10..255) and a host has at most 64 nodes here, so every term
stays below the next one's step.

The load term: while the set's CPUs are not overcommitted (at most one vCPU per CPU after
placement), load counts in bands of `cpu_load_band` vCPUs per CPU, and within a band the
VM goes where it leaves the least memory free (best fit) — so nodes and hosts with large
free blocks stay whole for VMs that need them. Past one vCPU per CPU every extra vCPU
counts (100 per vCPU-per-CPU of excess): packing an overcommitted node costs every VM on
it throughput, so there the least loaded always wins.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.node_sets import (
    Distance,
    FitNeed,
    NodeSet,
    compact_fitting_sets,
    diameter,
    distance_of,
    distance_sum,
    minimum_size,
    submatrix,
)
from numaplane.controller.policy.placement.settings import NumaplaneSettings

MAX_LOAD_TERM = 999.0
OVERCOMMIT_WEIGHT = 100.0
"""Load term per vCPU-per-CPU past one: strictly least-loaded once overcommitted."""


def set_cost(
    *,
    shortfall: float,
    nodes: int,
    diameter: int,
    distance_sum: int,
    load_term: float,
    leftover_share: float,
    idle: float,
) -> float:
    """The cost formula of the module docstring, the one place it is written."""
    pairs = nodes * (nodes - 1) // 2
    return (
        1e14 * shortfall
        + 1e12 * (nodes - 1)
        + 1e9 * (diameter - 10)
        + 1e3 * (distance_sum - 10 * pairs)
        + load_term
        + 0.9 * leftover_share
        + idle
    )


def load_term(load_after: float, band_width: float) -> float:
    """The load part of the cost: bands up to one vCPU per CPU, every vCPU beyond."""
    if load_after <= 1.0 + 1e-9:
        return float(int(load_after / band_width + 1e-9))
    at_one = float(int(1.0 / band_width + 1e-9))
    return min(MAX_LOAD_TERM, at_one + 1.0 + OVERCOMMIT_WEIGHT * (load_after - 1.0))


class Scored(NamedTuple):
    cost: float
    nodes: NodeSet


@dataclass(frozen=True)
class SetCost:
    """A valid node set on a host and the parts of its cost (for the decision's reasons)."""

    nodes: NodeSet
    cost: float
    claim_bytes: int
    """Memory to claim on the set (the target, or what is there when overcommitting)."""
    diameter: int
    load_after: float
    """vCPUs per CPU on the set once the VM is there."""
    leftover_bytes: int


class HostFit(NamedTuple):
    """What one host can offer a request: usable nodes and their numbers."""

    host: HostState
    nodes: tuple[int, ...]
    """Nodes the VM may use here: allowed, with CPUs and with memory."""
    memory: dict[int, int]
    cpus: dict[int, int]
    """CPUs a set may count per node (free CPUs when pinning is exclusive)."""

    @classmethod
    def of(
        cls, host: HostState, allowed: Sequence[int] | None, settings: NumaplaneSettings
    ) -> HostFit:
        wanted = None if allowed is None else set(allowed)
        usable = [
            n
            for n in host.nodes
            if n.cpus and n.total_bytes > 0 and (wanted is None or n.id in wanted)
        ]
        memory = {n.id: n.available_bytes for n in usable}
        if settings.exclusive_cpus:
            cpus = {n.id: max(0, len(n.cpus) - _ceil(n.vcpu_load)) for n in usable}
        else:
            cpus = {n.id: len(n.cpus) for n in usable}
        return cls(host, tuple(n.id for n in usable), memory, cpus)

    def best_single(
        self, need: FitNeed, *, vcpus: int, target_bytes: int, settings: NumaplaneSettings
    ) -> Scored | None:
        """The cheapest one-node set that holds the need, or None.

        The hot path of a decision (every node of every host), so it reads the node
        tuples directly; the cost is `set_cost` with one node.
        """
        best: Scored | None = None
        idle = 0.0 if self.host.in_use else settings.idle_host_penalty
        by_id = self.host.by_id
        for i in self.nodes:
            room = self.memory[i]
            if room < need.memory_bytes or self.cpus[i] < need.cpus:
                continue
            s = by_id[i]
            claim = min(target_bytes, room)
            cost = set_cost(
                shortfall=_shortfall(target_bytes, claim),
                nodes=1,
                diameter=10,
                distance_sum=0,
                load_term=load_term((s.vcpu_load + vcpus) / len(s.cpus), settings.cpu_load_band),
                leftover_share=(room - claim) / s.total_bytes,
                idle=idle,
            )
            if best is None or cost < best.cost:
                best = Scored(cost, (i,))
        return best

    def lower_bound(self, need: FitNeed) -> int | None:
        return minimum_size(self.nodes, self.memory, self.cpus, need)

    def fitting_sets(self, need: FitNeed, settings: NumaplaneSettings) -> list[NodeSet]:
        """Sets of the fewest nodes, then smallest diameter, that hold the need."""
        return compact_fitting_sets(
            self.nodes,
            self.memory,
            self.cpus,
            need,
            submatrix(self.host.view.topology, self.nodes),
            exhaustive_limit=settings.exhaustive_limit,
        )

    def distance(self) -> Distance:
        return distance_of(self.host.view.topology)

    def explain(
        self, nodes: NodeSet, *, vcpus: int, target_bytes: int, settings: NumaplaneSettings
    ) -> SetCost:
        """The cost of `nodes` with every part of it."""
        distance = self.distance() if len(nodes) > 1 else None
        return self._explain(nodes, vcpus, target_bytes, settings, distance)

    def best(
        self,
        sets: list[NodeSet],
        *,
        vcpus: int,
        target_bytes: int,
        settings: NumaplaneSettings,
        bound: float = float("inf"),
    ) -> Scored | None:
        """The cheapest of `sets` (ties: the lower node ids); None if none costs <= `bound`.

        A set whose node count, diameter and shortfall alone already cost more than
        `bound` (the best candidate on other hosts) is skipped without the rest of its
        cost: on a large cluster most multi-node sets are.
        """
        distance = self.distance() if any(len(s) > 1 for s in sets) else None
        best: Scored | None = None
        for s in sets:
            diam = diameter(s, distance) if distance is not None else 10
            room = sum(self.memory[i] for i in s)
            floor = set_cost(
                shortfall=_shortfall(target_bytes, min(target_bytes, room)),
                nodes=len(s),
                diameter=diam,
                distance_sum=distance_sum(s, distance) if distance is not None else 0,
                load_term=0.0,
                leftover_share=0.0,
                idle=0.0,
            )
            limit = bound if best is None else min(bound, best.cost)
            if floor > limit:
                continue
            cost = self._explain(s, vcpus, target_bytes, settings, distance).cost
            if best is None or (cost, s) < (best.cost, best.nodes):
                best = Scored(cost, s)
        return best

    def _explain(
        self,
        nodes: NodeSet,
        vcpus: int,
        target_bytes: int,
        settings: NumaplaneSettings,
        distance: Distance | None,
    ) -> SetCost:
        room = sum(self.memory[i] for i in nodes)
        claim = min(target_bytes, room)
        states = [self.host.by_id[i] for i in nodes]
        load_after = (sum(s.vcpu_load for s in states) + vcpus) / sum(len(s.cpus) for s in states)
        set_total = sum(s.total_bytes for s in states)
        diam = diameter(nodes, distance) if distance is not None else 10
        total_distance = distance_sum(nodes, distance) if distance is not None else 0
        cost = set_cost(
            shortfall=_shortfall(target_bytes, claim),
            nodes=len(nodes),
            diameter=diam,
            distance_sum=total_distance,
            load_term=load_term(load_after, settings.cpu_load_band),
            leftover_share=(room - claim) / set_total if set_total else 0.0,
            idle=0.0 if self.host.in_use else settings.idle_host_penalty,
        )
        return SetCost(
            nodes=nodes,
            cost=cost,
            claim_bytes=claim,
            diameter=diam,
            load_after=load_after,
            leftover_bytes=room - claim,
        )


def _shortfall(target_bytes: int, claim_bytes: int) -> float:
    return (target_bytes - claim_bytes) / target_bytes if target_bytes > 0 else 0.0


def _ceil(x: float) -> int:
    return int(-(-x // 1))
