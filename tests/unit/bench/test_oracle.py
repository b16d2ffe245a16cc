"""The oracle on instances small enough to check by hand."""

from __future__ import annotations

import pytest

from numaplane.bench.oracle import (
    OracleVm,
    access_locality_oracle,
    alone_access_locality,
    min_bytes_to_move,
    oracle_metrics,
    resident_sets,
    throughput_bounds,
)
from numaplane.bench.scenario import parse_scenario
from numaplane.common.units import GiB
from tests.support.placement_builders import topology, two_nodes, vm


def _vm(name: str, gib: float, vcpus: int = 4, utilization: float = 1.0) -> OracleVm:
    return OracleVm(name, vcpus, int(gib * GiB), utilization)


def test_vms_that_fit_one_node_each_are_wholly_local_exactly() -> None:
    result = access_locality_oracle([two_nodes()], [_vm("a", 4), _vm("b", 4)])
    assert result.kind == "exact"
    assert result.value == pytest.approx(1.0)


def test_a_third_vm_must_straddle_and_the_optimum_says_so() -> None:
    # 2 nodes x 6 GiB, three VMs of 4 GiB (12 GiB): two fit whole, the third gets 2 GiB on
    # each node, so at best 2 of its 4 GiB are on its home node: (4 + 4 + 2) / 12.
    result = access_locality_oracle([two_nodes()], [_vm("a", 4), _vm("b", 4), _vm("c", 4)])
    assert result.kind == "exact"
    assert result.value == pytest.approx(10 / 12)


def test_a_vm_larger_than_a_node_keeps_at_most_a_node_local() -> None:
    result = access_locality_oracle([two_nodes()], [_vm("big", 10)])
    assert result.value == pytest.approx(0.6)
    assert alone_access_locality(_vm("big", 10), [two_nodes()]) == pytest.approx(0.6)


def test_placed_memory_comes_first() -> None:
    # 12 GiB in all: the oracle places both VMs (8 + 4 GiB) before it looks at
    # locality. The 8 GiB VM gets 6 on its home node and 2 on the other, where the 4 GiB
    # VM is wholly local: (6 + 4) / 12.
    result = access_locality_oracle([two_nodes()], [_vm("a", 8), _vm("b", 4)])
    assert result.value == pytest.approx(10 / 12)


def test_hosts_with_too_few_cpus_are_not_used() -> None:
    small = topology([2, 2], [6, 6], [[10, 21], [21, 10]])
    big = topology([8], [6], [[10]])
    # 8 vCPUs: only the one-node host qualifies, where the VM is wholly local.
    result = access_locality_oracle([small, big], [_vm("a", 6, vcpus=8)])
    assert result.value == pytest.approx(1.0)
    assert alone_access_locality(_vm("a", 7, vcpus=8), [small, big]) == pytest.approx(6 / 7)


def test_throughput_bounds_share_the_cpus() -> None:
    # xen-kernbench-8: 16 CPUs, 8 VMs of 4 busy vCPUs: at best half a CPU per vCPU.
    mean, p5 = throughput_bounds(16, [_vm(f"v{i}", 1) for i in range(8)])
    assert mean == pytest.approx(0.5)
    # p5 rank 0.35 -> order statistic 1 needs 7 VMs at or above it: 16 / 28.
    assert p5 == pytest.approx(16 / 28)
    assert throughput_bounds(16, [_vm("a", 1), _vm("b", 1)]) == (1.0, 1.0)
    # Half-busy vCPUs need half the CPU: 8 VMs x 4 x 0.5 = 16 runnable, all at 1.0.
    mean, p5 = throughput_bounds(16, [_vm(f"v{i}", 1, utilization=0.5) for i in range(8)])
    assert mean == pytest.approx(1.0) and p5 == pytest.approx(1.0)


def test_bytes_to_move_lower_bound() -> None:
    a = vm("a", "h", vcpus=2, memory_by_node={0: 3, 1: 1}, cpu_nodes=[0])
    b = vm("b", "h", vcpus=2, memory_by_node={1: 2}, cpu_nodes=[1])
    # 6 GiB in all, 5 local: full locality needs at least the 1 remote GiB moved.
    assert min_bytes_to_move([a, b], 1.0) == 1 * GiB
    assert min_bytes_to_move([a, b], 0.5) == 0
    # Re-binding a's vCPUs to both nodes makes it local without moving a byte...
    assert min_bytes_to_move([a, b], 1.0, vcpus_may_move=True) == 0
    # ...but for access locality its best free home node holds 3 of its 4 GiB.
    assert min_bytes_to_move([a, b], 1.0, metric="access", vcpus_may_move=True) == 1 * GiB


SCENARIO = """
name: tiny
seed: 1
duration_s: 20
tick_s: 5
hosts:
  - name: h
    nodes:
      - {cpus: 8, memory_gib: 6}
      - {cpus: 8, memory_gib: 6}
    distances: [[10, 21], [21, 10]]
events:
  - at: 0
    create_vms: {count: 3, prefix: vm, vcpus: 4, memory_gib: 4}
"""


def test_a_static_scenario_has_an_exact_access_locality() -> None:
    scenario = parse_scenario(SCENARIO)
    assert resident_sets(scenario) == [(frozenset({"vm-0", "vm-1", "vm-2"}), 4)]
    result = oracle_metrics(scenario)
    assert result is not None
    assert result["mean_node_set_locality"] == 1.0
    assert result["mean_locality"] == pytest.approx(10 / 12, abs=1e-6)
    assert result["mean_access_locality"] == result["mean_locality"]
    assert result["kind"]["mean_access_locality"] == "exact"
    # 16 CPUs, 12 busy vCPUs: the CPU bound does not bind.
    assert result["mean_vm_throughput"] == 1.0
    assert result["kind"]["mean_vm_throughput"] == "bound"


def test_a_changing_scenario_is_averaged_over_ticks_as_a_bound() -> None:
    scenario = parse_scenario(SCENARIO + "  - at: 10\n    delete_vm: vm-2\n")
    sets = resident_sets(scenario)
    assert sets == [(frozenset({"vm-0", "vm-1", "vm-2"}), 2), (frozenset({"vm-0", "vm-1"}), 2)]
    result = oracle_metrics(scenario)
    assert result is not None
    # Two ticks at 10/12, two at 1.0.
    assert result["mean_access_locality"] == pytest.approx((10 / 12 + 1.0) / 2, abs=1e-6)
    assert result["kind"]["mean_access_locality"] == "bound"
    assert "p5_vm_throughput" not in result


def test_node_set_locality_is_exact_only_when_every_vm_fits_on_its_vcpus_worth_of_nodes() -> None:
    """A 4-vCPU, 4 GiB VM fits one 6 GiB node: 1.0 is reachable. A 1-vCPU, 8 GiB VM must
    span both nodes, and its one vCPU runs on one of them: 1.0 is only a ceiling."""
    result = oracle_metrics(parse_scenario(SCENARIO))
    assert result is not None and result["kind"]["mean_node_set_locality"] == "exact"
    wide = SCENARIO.replace(
        "create_vms: {count: 3, prefix: vm, vcpus: 4, memory_gib: 4}",
        "create_vms: {count: 1, prefix: vm, vcpus: 1, memory_gib: 8}",
    )
    result = oracle_metrics(parse_scenario(wide))
    assert result is not None
    assert (result["mean_node_set_locality"], result["kind"]["mean_node_set_locality"]) == (
        1.0, "bound"
    )
    # Per vCPU, its one vCPU finds at most 6 of its 8 GiB on its own node, exactly.
    assert (result["mean_locality"], result["kind"]["mean_locality"]) == (0.75, "exact")
