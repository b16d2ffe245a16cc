"""One host at one tick, as the metrics see it: each VM's locality and throughput.

The model's inputs are read off the simulated host: where each vCPU runs, where each
page sits, the VM's workload (memory intensity, CPU utilization) and how much of its
working set is swapped. A VM is in violation of its reservation when the memory it has —
its guest size, or what the host backed if the host ran out — is below the reservation.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.bench.cluster import SimCluster
from numaplane.bench.model import HostHardware, ModelParams, VmLoad, host_throughputs
from numaplane.common.locality import locality, node_set_share
from numaplane.hostagent.drivers.sim import SimHost


@dataclass(frozen=True)
class VmSample:
    name: str
    locality: float
    """Per-vCPU locality (`numaplane.common.locality`), exact: the simulator knows every
    vCPU's CPU."""
    node_set_locality: float
    """Share of the memory on the nodes where its vCPUs run (1.0 for a VM spread evenly
    over all nodes): the figure the rebalancing oracle and its targets are defined on."""
    resident_bytes: int
    throughput: float


@dataclass(frozen=True)
class HostSample:
    """One host at one tick: its VMs, and those below their reservation."""

    vms: tuple[VmSample, ...]
    violating: frozenset[str]


def hardware(host: SimHost, params: ModelParams) -> HostHardware:
    spec = host.spec
    default = params.node_bandwidth_gbps * 1e9
    return HostHardware(
        cpus_by_node={n: len(spec.cpus_of_node(n)) for n in spec.node_ids},
        bandwidth_by_node={
            n: node.bandwidth_bytes_per_s or default for n, node in enumerate(spec.nodes)
        },
        distances=spec.distances,
    )


def sample_host(cluster: SimCluster, host: SimHost, params: ModelParams) -> HostSample:
    cpu_nodes = cluster.cpu_nodes(host)
    loads: dict[str, VmLoad] = {}
    localities: dict[str, tuple[float, float, int]] = {}
    violating = set()
    for state in host.vms():
        if state.state != "running" or state.name not in cluster.vms:
            continue
        workload = cluster.workloads[state.name]
        vcpus: dict[int, int] = {}
        for cpu in state.vcpu_cpus:
            vcpus[cpu_nodes[cpu]] = vcpus.get(cpu_nodes[cpu], 0) + 1
        ws = state.working_set_bytes
        loads[state.name] = VmLoad(
            vcpus_by_node=vcpus,
            memory_by_node=state.memory_by_node,
            memory_intensity=workload.memory_intensity,
            cpu_utilization=workload.cpu_utilization,
            swapped_fraction=min(1.0, state.swap_bytes / ws) if ws else 0.0,
        )
        localities[state.name] = (
            locality(state.memory_by_node, vcpus),
            node_set_share(state.memory_by_node, vcpus.keys()),
            state.resident_bytes,
        )
        reservation = cluster.vms[state.name].spec.request.reservation_bytes
        has = state.resident_bytes if state.blocked else state.guest_memory_bytes
        if reservation and has < reservation:
            violating.add(state.name)
    throughput = host_throughputs(hardware(host, params), loads, params)
    return HostSample(
        vms=tuple(
            VmSample(name, loc, access, mem, throughput[name])
            for name, (loc, access, mem) in localities.items()
        ),
        violating=frozenset(violating),
    )
