"""The performance model: how fast a VM runs, relative to all-local and uncontended.

This is a model, not a measurement. It turns where a VM's vCPUs run and where its memory
sits into a relative throughput with four effects, each a short formula (bench/README.md
writes them out with the sources of their parameters):

1. CPU overcommit. On node i with C_i CPUs and R_i = sum of runnable vCPUs
   (vCPUs x utilization), each vCPU gets c_i = min(1, C_i / R_i) of a CPU.
2. Bandwidth contention. A vCPU running a share c_i of the time with memory intensity m
   asks beta * m * c_i bytes/s (beta: what one core can stream), spread over nodes like
   the VM's memory. Node j serves D_j in total against its bandwidth B_j; its accesses
   slow by kappa_j = max(1, D_j / B_j).
3. Remote memory. A vCPU on node i reaching memory on node j pays the SLIT latency
   factor d(i, j) / 10. With p_j the share of the VM's memory on node j, the vCPU's mean
   memory latency is  l_i = sum_j p_j * d(i, j) / 10 * kappa_j.
4. Swapping. A share s of the working set is swapped out (balloon below the working set,
   or a host that could not back it); an access to it costs P (the swap penalty).

A vCPU spends (1 - m) of its time computing and m waiting for memory when everything is
local, so its time per unit of work is tau_i = (1 - m) + m * ((1 - s) * l_i + s * P), and
its throughput c_i / tau_i. A VM's throughput is the mean over its vCPUs. All local,
uncontended and unswapped gives exactly 1.0.

One pass, no fixed point: a slowed VM would in truth ask less bandwidth, which the model
ignores (it errs toward harsher contention).

5. Kernel time. A share k of a VM's vCPU time spent in the host kernel on its behalf —
   NUMA hinting faults and the page copies they trigger, which run in the faulting vCPU
   thread — runs no guest work: the VM's throughput is multiplied by (1 - k)
   (`with_kernel_time`). Zero unless a policy's kernel step says otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from numaplane.common.topology import LOCAL_DISTANCE


@dataclass(frozen=True)
class ModelParams:
    vcpu_bandwidth_gbps: float = 10.0
    """beta: memory bandwidth one core streams at memory intensity 1 (GB/s). Single-core
    STREAM triad on recent Xeon/EPYC servers is of the order of 10-20 GB/s."""
    node_bandwidth_gbps: float = 40.0
    """B_j when a host's node does not say: sustained STREAM bandwidth of one NUMA node
    (GB/s), about a 4-channel DDR4 socket or half a 6-channel one in SNC-2 mode."""
    swap_penalty: float = 25.0
    """P: cost of an access to swapped-out memory, relative to a local DRAM access. A 4 KiB
    swap-in from SSD costs ~50-100 us against ~0.1 us for a DRAM miss; amortised over the
    cache lines used while the page is back, a factor of tens. A knob, not a measurement."""


@dataclass(frozen=True)
class HostHardware:
    """What the model needs of a host. Node ids index `distances` (0..n-1)."""

    cpus_by_node: Mapping[int, int]
    bandwidth_by_node: Mapping[int, float]
    """B_j in bytes/s."""
    distances: Sequence[Sequence[int]]


@dataclass(frozen=True)
class VmLoad:
    """What the model needs of a VM."""

    vcpus_by_node: Mapping[int, int]
    """Where its vCPUs run: node -> number of vCPUs."""
    memory_by_node: Mapping[int, int]
    memory_intensity: float
    """m in [0, 1]: share of its time a vCPU waits for memory when all of it is local."""
    cpu_utilization: float = 1.0
    """u in (0, 1]: share of the time its vCPUs are runnable."""
    swapped_fraction: float = 0.0
    """s in [0, 1]: share of its working set that is swapped out."""


def latency_factor(distance: int) -> float:
    """ACPI SLIT distances are relative latencies with local = 10."""
    return distance / LOCAL_DISTANCE


def cpu_shares(hw: HostHardware, vms: Mapping[str, VmLoad]) -> dict[int, float]:
    """c_i = min(1, C_i / R_i): the share of a CPU each runnable vCPU on node i gets."""
    runnable = dict.fromkeys(hw.cpus_by_node, 0.0)
    for vm in vms.values():
        for node, n in vm.vcpus_by_node.items():
            runnable[node] += n * vm.cpu_utilization
    return {
        node: 1.0 if r <= hw.cpus_by_node[node] else hw.cpus_by_node[node] / r
        for node, r in runnable.items()
    }


def access_shares(vm: VmLoad) -> dict[int, float]:
    """p_j: share of the VM's memory accesses that go to node j (uniform over its pages)."""
    total = sum(vm.memory_by_node.values())
    if total <= 0:
        return {}
    return {node: b / total for node, b in vm.memory_by_node.items() if b}


def bandwidth_contention(
    hw: HostHardware,
    vms: Mapping[str, VmLoad],
    shares: Mapping[int, float],
    params: ModelParams,
) -> dict[int, float]:
    """kappa_j = max(1, D_j / B_j), D_j the bandwidth all running vCPUs ask of node j."""
    beta = params.vcpu_bandwidth_gbps * 1e9
    demand = dict.fromkeys(hw.bandwidth_by_node, 0.0)
    for vm in vms.values():
        running = sum(n * shares[i] for i, n in vm.vcpus_by_node.items())
        asked = running * vm.cpu_utilization * vm.memory_intensity * beta
        for node, p in access_shares(vm).items():
            demand[node] += asked * p
    return {node: max(1.0, demand[node] / hw.bandwidth_by_node[node]) for node in demand}


def memory_latency(
    vm: VmLoad, cpu_node: int, hw: HostHardware, contention: Mapping[int, float]
) -> float:
    """l_i: mean latency factor of the VM's accesses from a vCPU on `cpu_node`."""
    shares = access_shares(vm)
    if not shares:
        return 1.0
    row = hw.distances[cpu_node]
    return sum(p * latency_factor(row[j]) * contention[j] for j, p in shares.items())


def time_per_work(intensity: float, latency: float, swapped: float, params: ModelParams) -> float:
    """tau = (1 - m) + m * ((1 - s) * l + s * P); 1.0 when local, uncontended, unswapped."""
    memory = (1.0 - swapped) * latency + swapped * params.swap_penalty
    return (1.0 - intensity) + intensity * memory


def host_throughputs(
    hw: HostHardware, vms: Mapping[str, VmLoad], params: ModelParams
) -> dict[str, float]:
    """Relative throughput of every VM on a host (1.0 = all local, uncontended)."""
    shares = cpu_shares(hw, vms)
    contention = bandwidth_contention(hw, vms, shares, params)
    out: dict[str, float] = {}
    for name, vm in vms.items():
        vcpus = sum(vm.vcpus_by_node.values())
        if vcpus == 0:
            out[name] = 0.0
            continue
        total = 0.0
        for node, n in vm.vcpus_by_node.items():
            latency = memory_latency(vm, node, hw, contention)
            tau = time_per_work(vm.memory_intensity, latency, vm.swapped_fraction, params)
            total += n * shares[node] / tau
        out[name] = total / vcpus
    return out


def with_kernel_time(throughput: float, kernel_share: float) -> float:
    """Throughput once a share `kernel_share` of the vCPUs' time went to the host kernel."""
    return throughput * (1.0 - min(1.0, max(0.0, kernel_share)))
