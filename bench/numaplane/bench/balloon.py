"""Balloon policies in the harness: the simulated cluster as the balloon policy's input,
and their decisions applied as `BalloonTarget` actions.

`none`, `mom` and `numaplane` (`numaplane.controller.policy.balloon.BALLOON_POLICIES`) read the same
`BalloonHost`s the leader's balloon loop builds from etcd, here built straight from the
simulated hosts with the figures a sim agent reports
(hostagent/numaplane/hostagent/drivers/sim/balloon.py): guest free = MemFree, usable = free plus
page cache (MemAvailable), swap out = working set pushed out by the balloon. Reservations, limits
and shares come from the scenario's VM requests. Every VM is under the policy (auto on), as every
guest is under MOM's.

Each tick, after placement and rebalancing, the balloon policy decides once and its
targets are applied through `SimCluster.apply`; the balloon then moves at the host's
`balloon_rate_gib_s` while simulated time advances.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.bench.cluster import SimCluster
from numaplane.controller.policy.balloon import (
    BALLOON_POLICIES,
    BalloonHost,
    BalloonPolicy,
    BalloonVm,
    GuestStats,
    HostBalloonPlan,
    NodeState,
)
from numaplane.controller.policy.types import BalloonTarget


class UnknownBalloonPolicy(KeyError):
    def __str__(self) -> str:
        return str(self.args[0])


def balloon_names() -> tuple[str, ...]:
    return tuple(BALLOON_POLICIES)


def create_balloon_policy(name: str) -> BalloonPolicy:
    factory = BALLOON_POLICIES.get(name)
    if factory is None:
        known = ", ".join(balloon_names())
        raise UnknownBalloonPolicy(f"unknown balloon policy {name!r}; known: {known}")
    return factory()


def balloon_hosts(cluster: SimCluster) -> tuple[BalloonHost, ...]:
    hosts = []
    for name, host in cluster.hosts.items():
        topology = host.topology()
        nodes = tuple(
            NodeState(n.id, n.memory_total_bytes, n.memory_free_bytes) for n in topology.nodes
        )
        vms = []
        for state in host.vms():
            placed = cluster.vms.get(state.name)
            if state.state != "running" or placed is None:
                continue
            request = placed.spec.request
            vms.append(
                BalloonVm(
                    name=state.name,
                    max_bytes=state.memory_bytes,
                    target_bytes=state.balloon_target_bytes,
                    actual_bytes=state.guest_memory_bytes,
                    memory_by_node=state.memory_by_node,
                    reservation_bytes=request.reservation_bytes,
                    limit_bytes=request.limit_bytes,
                    shares=request.shares,
                    auto=True,
                    guest=GuestStats(
                        free_bytes=state.guest_free_bytes,
                        usable_bytes=state.guest_free_bytes + state.guest_cache_bytes,
                        swap_in_bytes=state.swapped_in_total_bytes,
                        swap_out_bytes=state.swapped_out_total_bytes,
                    ),
                )
            )
        hosts.append(BalloonHost(name=name, nodes=nodes, vms=tuple(vms)))
    return tuple(hosts)


@dataclass
class BalloonStep:
    """One balloon policy through one run: decides each tick, counts what it moved."""

    policy: BalloonPolicy
    reclaimed_bytes: int = 0
    """Sum of every target decrease applied (balloon inflation asked for)."""
    returned_bytes: int = 0
    refused: int = 0
    last_plans: tuple[HostBalloonPlan, ...] = ()

    def __call__(self, cluster: SimCluster) -> None:
        self.last_plans = self.policy.decide(balloon_hosts(cluster))
        for plan in self.last_plans:
            for d in plan.decisions:
                target = BalloonTarget(vm=d.vm, host=d.host, target_bytes=d.target_bytes,
                                       reason="; ".join(d.reasons))
                if cluster.apply(target) is not None:
                    self.refused += 1
                    continue
                if d.change_bytes < 0:
                    self.reclaimed_bytes -= d.change_bytes
                else:
                    self.returned_bytes += d.change_bytes
