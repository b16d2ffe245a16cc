"""Simulated hosts for the agent's `sim` backend and the demo: shapes and starting VMs.

A seeded generator decides the VMs, so the same seed gives the same cluster. Some VMs
are started badly placed on purpose — vCPUs on one node, memory bound to another —
because a demo of a NUMA control plane should have something to show.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable

from numaplane.common.units import GiB
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimHost,
    SimHostSpec,
    SimNodeSpec,
    load_host_spec,
)
from numaplane.hostagent.settings import AgentSettings

TWO_NODE = ((10, 21), (21, 10))
FOUR_NODE_SNC = (
    (10, 11, 21, 21),
    (11, 10, 21, 21),
    (21, 21, 10, 11),
    (21, 21, 11, 10),
)


def two_node_spec(name: str) -> SimHostSpec:
    """A two-socket host: 8 CPUs and 16 GiB per node."""
    return SimHostSpec(
        name=name,
        nodes=tuple(SimNodeSpec(cpus=8, memory_bytes=16 * GiB) for _ in range(2)),
        distances=TWO_NODE,
    )


def four_node_spec(name: str) -> SimHostSpec:
    """Two sockets split in two (SNC-style): 4 nodes of 6 CPUs and 12 GiB."""
    return SimHostSpec(
        name=name,
        nodes=tuple(SimNodeSpec(cpus=6, memory_bytes=12 * GiB) for _ in range(4)),
        distances=FOUR_NODE_SNC,
    )


def demo_spec(index: int, name: str) -> SimHostSpec:
    """Alternate 2-node and 4-node hosts, so the demo cluster is mixed."""
    return two_node_spec(name) if index % 2 == 0 else four_node_spec(name)


def populate(host: SimHost, count: int, rng: random.Random, *, prefix: str) -> None:
    """Start `count` VMs: most placed sanely, about a third badly (memory remote)."""
    nodes = list(host.topology().node_ids)
    for i in range(count):
        vcpus = rng.choice((1, 2, 2, 4))
        memory = rng.choice((1, 2, 2, 4)) * GiB
        name = f"{prefix}-vm{i}"
        if len(nodes) > 1 and rng.random() < 0.35:
            cpu_node, mem_node = rng.sample(nodes, 2)
            cpus = [c for c in host.topology().node(cpu_node).cpus]
            binding = MemoryBinding.strict([mem_node])
        else:
            node = rng.choice(nodes)
            cpus = list(host.topology().node(node).cpus)
            binding = MemoryBinding.preferred([node])
        try:
            host.start_vm(name, vcpus, memory, cpus=cpus, binding=binding)
        except ValueError:
            continue  # the node is full: a smaller cluster just has fewer VMs
    # Let first-touch finish so the first report shows where memory really sits.
    host.advance(600.0)


def sim_backend_from_settings(
    settings: AgentSettings, *, clock: Callable[[], float] = time.time
) -> SimBackend:
    if settings.sim_topology is not None:
        spec = load_host_spec(settings.sim_topology, name=settings.host)
    else:
        spec = two_node_spec(settings.host)
    host = SimHost(spec, seed=settings.sim_seed)
    populate(host, settings.sim_vms, random.Random(settings.sim_seed), prefix=settings.host)
    return SimBackend(host, clock=clock)
