"""Knobs of the `numaplane` placement policy, each with the trade-off it sets."""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.controller.policy.placement.node_sets import EXHAUSTIVE_LIMIT


@dataclass(frozen=True)
class NumaplaneSettings:
    cpu_load_band: float = 0.125
    """Width of a CPU-load band, in vCPUs per CPU after placement (0.125: one vCPU on an
    8-CPU node). Candidates in the same band count as equally loaded and are packed
    best-fit (keeping large free blocks whole); a lower band wins over packing. Wider
    consolidates more, narrower balances more. Past one vCPU per CPU there are no bands:
    the least loaded always wins."""
    exclusive_cpus: bool = False
    """Each vCPU needs a CPU of its own: a node set is valid only if its CPUs, less the
    vCPUs already there, cover the VM's vCPUs."""
    place_on_reservation: bool = True
    """When no host can hold a VM's target memory (its limit, else its size), place it
    where its reservation fits and claim what is there (memory overcommit: the balloon
    policy then keeps it between reservation and limit). False: it stays pending."""
    idle_host_penalty: float = 0.05
    """Cost added for a host that runs nothing yet: between near-equal candidates, prefer
    hosts already in use (keeps idle hosts whole for large VMs)."""
    exhaustive_limit: int = EXHAUSTIVE_LIMIT
    """Largest number of k-node subsets of a host checked one by one; above it, node sets
    are grown ring by ring from every node (bounded decision time on 16+ node hosts)."""
