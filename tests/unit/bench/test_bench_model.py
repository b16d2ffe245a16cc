"""The performance model on cases worked by hand (the arithmetic is in each docstring)."""

from __future__ import annotations

import pytest

from numaplane.bench.model import (
    HostHardware,
    ModelParams,
    VmLoad,
    bandwidth_contention,
    cpu_shares,
    host_throughputs,
    latency_factor,
    time_per_work,
)
from numaplane.common.units import GiB

ROOMY = ModelParams(vcpu_bandwidth_gbps=1.0, node_bandwidth_gbps=1000.0, swap_penalty=50.0)


def two_nodes(cpus: int = 8, bandwidth: float = 1e12) -> HostHardware:
    return HostHardware(
        cpus_by_node={0: cpus, 1: cpus},
        bandwidth_by_node={0: bandwidth, 1: bandwidth},
        distances=((10, 21), (21, 10)),
    )


def test_latency_factor_is_slit_distance_over_ten() -> None:
    assert latency_factor(10) == 1.0
    assert latency_factor(21) == pytest.approx(2.1)
    assert latency_factor(11) == pytest.approx(1.1)


def test_all_local_uncontended_unswapped_runs_at_one() -> None:
    vm = VmLoad(vcpus_by_node={0: 4}, memory_by_node={0: GiB}, memory_intensity=0.8)
    assert host_throughputs(two_nodes(), {"a": vm}, ROOMY) == {"a": pytest.approx(1.0)}


def test_half_remote_memory() -> None:
    """m = 0.6, half the memory at distance 21: l = 0.5 * 1 + 0.5 * 2.1 = 1.55,
    tau = 0.4 + 0.6 * 1.55 = 1.33, throughput = 1 / 1.33 = 0.7519."""
    vm = VmLoad(vcpus_by_node={0: 4}, memory_by_node={0: GiB, 1: GiB}, memory_intensity=0.6)
    assert host_throughputs(two_nodes(), {"a": vm}, ROOMY)["a"] == pytest.approx(1 / 1.33)


def test_vcpus_split_over_two_nodes_each_see_half_remote() -> None:
    """vCPUs on both nodes, memory on both: each vCPU has half its accesses remote, so the
    VM runs like the half-remote case although its (node-set) locality is 1.0."""
    vm = VmLoad(vcpus_by_node={0: 2, 1: 2}, memory_by_node={0: GiB, 1: GiB}, memory_intensity=0.6)
    assert host_throughputs(two_nodes(), {"a": vm}, ROOMY)["a"] == pytest.approx(1 / 1.33)


def test_cpu_overcommit_shares_the_cpus() -> None:
    """Two VMs of 4 busy vCPUs on a node of 4 CPUs: R = 8, c = 4 / 8 = 0.5 each."""
    hw = two_nodes(cpus=4)
    vms = {
        name: VmLoad(vcpus_by_node={0: 4}, memory_by_node={0: GiB}, memory_intensity=0.5)
        for name in ("a", "b")
    }
    assert cpu_shares(hw, vms) == {0: 0.5, 1: 1.0}
    assert host_throughputs(hw, vms, ROOMY) == {"a": 0.5, "b": 0.5}


def test_partly_idle_vcpus_do_not_overcommit() -> None:
    """8 vCPUs at utilization 0.5 on 4 CPUs: R = 4, no overcommit."""
    hw = two_nodes(cpus=4)
    vm = VmLoad({0: 8}, {0: GiB}, memory_intensity=0.5, cpu_utilization=0.5)
    assert cpu_shares(hw, {"a": vm})[0] == 1.0


def test_bandwidth_contention() -> None:
    """4 vCPUs at m = 1 each stream beta = 6 GB/s from a node serving B = 10 GB/s:
    D = 24 GB/s, kappa = 2.4, tau = 2.4, throughput = 1 / 2.4."""
    hw = two_nodes(cpus=4, bandwidth=10e9)
    params = ModelParams(vcpu_bandwidth_gbps=6.0)
    vm = VmLoad(vcpus_by_node={0: 4}, memory_by_node={0: GiB}, memory_intensity=1.0)
    shares = cpu_shares(hw, {"a": vm})
    assert bandwidth_contention(hw, {"a": vm}, shares, params) == {
        0: pytest.approx(2.4),
        1: 1.0,
    }
    assert host_throughputs(hw, {"a": vm}, params)["a"] == pytest.approx(1 / 2.4)


def test_contention_and_distance_multiply_for_remote_accesses() -> None:
    """The VM's vCPUs on node 0, all memory on node 1, which is saturated twice over:
    l = 2.1 * 2 = 4.2; with m = 0.5, tau = 0.5 + 0.5 * 4.2 = 2.6."""
    hw = two_nodes(cpus=4, bandwidth=2e9)
    params = ModelParams(vcpu_bandwidth_gbps=2.0)
    vm = VmLoad(vcpus_by_node={0: 4}, memory_by_node={1: GiB}, memory_intensity=0.5)
    assert host_throughputs(hw, {"a": vm}, params)["a"] == pytest.approx(1 / 2.6)


def test_swapping_below_the_working_set() -> None:
    """10 % of the working set swapped, m = 0.5, P = 50:
    tau = 0.5 + 0.5 * (0.9 * 1 + 0.1 * 50) = 3.45."""
    assert time_per_work(0.5, 1.0, 0.1, ROOMY) == pytest.approx(3.45)
    vm = VmLoad({0: 2}, {0: GiB}, memory_intensity=0.5, swapped_fraction=0.1)
    assert host_throughputs(two_nodes(), {"a": vm}, ROOMY)["a"] == pytest.approx(1 / 3.45)


def test_a_compute_bound_vm_does_not_care_where_its_memory_is() -> None:
    vm = VmLoad(vcpus_by_node={0: 2}, memory_by_node={1: GiB}, memory_intensity=0.0)
    assert host_throughputs(two_nodes(), {"a": vm}, ROOMY)["a"] == 1.0
