"""A host's nodes as a placement policy sees them: memory it may use, CPUs, vCPU load.

Built once per host and per decision so that the fitting code reads plain numbers, not
views. Whether claims in flight are subtracted is the policy's choice (`use_claims`):
numaplane counts them, the baselines model toolstacks that cannot see them.

A claim is memory promised to a VM that is starting but not yet observed, so its vCPUs
are not in `HostView.vms` either. A policy that counts claims can also count their load:
`inflight_vcpus_per_byte` turns claimed bytes into vCPUs (numaplane uses the ratio of the
request it is placing — exact for the usual burst of identical VMs, an estimate
otherwise). Without it, every request of a parallel burst would see the same CPU load and
pile onto the node that best fits memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import NamedTuple

from numaplane.controller.policy.types import HostView


class NodeState(NamedTuple):
    """One node's numbers (a named tuple: built for every node of every host per decision)."""

    id: int
    cpus: tuple[int, ...]
    """Online CPUs of the node."""
    total_bytes: int
    available_bytes: int
    """Free memory, minus claims in flight when the policy counts them (never negative)."""
    vcpu_load: float
    """vCPUs that may run here; a VM bound to k nodes counts vcpus/k on each (plus the
    estimated vCPUs of claims in flight, when asked)."""

    @property
    def cpu_count(self) -> int:
        return len(self.cpus)


class HostState(NamedTuple):
    """Everything a placement policy reads of one host, for one decision."""

    view: HostView
    nodes: tuple[NodeState, ...]
    """In topology order."""
    by_id: Mapping[int, NodeState]
    in_use: bool
    """The host runs VMs or has claims in flight (consolidation prefers it)."""

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def cpu_count(self) -> int:
        return sum(n.cpu_count for n in self.nodes)

    @property
    def available_bytes(self) -> int:
        return sum(n.available_bytes for n in self.nodes)

    @classmethod
    def of(
        cls, host: HostView, *, use_claims: bool, inflight_vcpus_per_byte: float = 0.0
    ) -> HostState:
        load = vcpu_load_by_node(host)
        claims = host.claimed_by_node if use_claims else {}
        if claims and inflight_vcpus_per_byte > 0:
            for node, claimed in claims.items():
                if claimed > 0:
                    load[node] = load.get(node, 0.0) + claimed * inflight_vcpus_per_byte
        nodes = tuple(
            NodeState(
                n.id,
                n.cpus,
                n.memory_total_bytes,
                max(0, n.memory_free_bytes - claims.get(n.id, 0))
                if claims
                else n.memory_free_bytes,
                load.get(n.id, 0.0),
            )
            for n in host.topology.nodes
        )
        in_use = bool(host.vms) or any(v > 0 for v in host.claimed_by_node.values())
        return cls(host, nodes, {n.id: n for n in nodes}, in_use)


def vcpu_load_by_node(host: HostView) -> dict[int, float]:
    """Same count as `HostView.vcpus_on_node`, for every node in one pass over the VMs."""
    load: dict[int, float] = {}
    for vm in host.vms:
        if not vm.cpu_nodes:
            continue
        share = vm.vcpus / len(vm.cpu_nodes)
        for node in vm.cpu_nodes:
            load[node] = load.get(node, 0.0) + share
    return load
