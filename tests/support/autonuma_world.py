"""Small simulated clusters for the automatic NUMA balancing worked examples (no mocks):
real SimHosts in a SimCluster built from a scenario text, and a loop that runs the
kernel step and the simulator's clock the way the harness does each tick."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from numaplane.bench.autonuma import AutoNuma, AutoNumaSettings
from numaplane.bench.cluster import SimCluster
from numaplane.bench.scenario import parse_scenario
from numaplane.hostagent.drivers.sim import SimHost

TICK_S = 5.0
EXACT = AutoNumaSettings(sample_faults=False)
"""The kernel's defaults, with expected values instead of sampled faults."""


def cluster(
    *,
    nodes: int = 2,
    cpus: int = 4,
    memory_gib: float = 4,
    bandwidth_gib_s: float = 1.0,
    distances: Sequence[Sequence[int]] | None = None,
) -> SimCluster:
    """One host `h` of `nodes` equal nodes (distance 21 between any two by default)."""
    rows = distances or [[10 if a == b else 21 for b in range(nodes)] for a in range(nodes)]
    node = f"{{cpus: {cpus}, memory_gib: {memory_gib}}}"
    text = f"""\
name: autonuma-example
duration_s: 3600
tick_s: {TICK_S}
migration_bandwidth_gib_s: {bandwidth_gib_s}
hosts:
  - name: h
    nodes: [{", ".join([node] * nodes)}]
    distances: {[list(r) for r in rows]}
"""
    return SimCluster(parse_scenario(text, "autonuma-example.yaml"), seed=1)


def exact(**changes: Any) -> AutoNumaSettings:
    """The exact settings with some fields changed."""
    return replace(EXACT, **changes)


def run_ticks(step: AutoNuma, c: SimCluster, ticks: int) -> None:
    """`ticks` ticks of the harness's order: the kernel step, then the clock."""
    for _ in range(ticks):
        step(c, TICK_S)
        c.advance(TICK_S)


def vcpu_nodes(host: SimHost, vm: str) -> list[int]:
    """The node of each vCPU of `vm`, in vCPU order."""
    spec = host.spec
    node_of = {cpu: n for n in spec.node_ids for cpu in spec.cpus_of_node(n)}
    return [node_of[cpu] for cpu in host.vm(vm).vcpu_cpus]
