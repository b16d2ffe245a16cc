"""`autonuma` in the harness: names compose, the runner runs a policy's kernel step at the
point of the tick where `plan()` runs (in `run`/`compare` and in the rebalancing
harness), the kernel time comes off the throughput, and a run repeats under its seed."""

from __future__ import annotations

from dataclasses import replace

import pytest
from click.testing import CliRunner

from numaplane.bench.autonuma import AutoNuma, AutoNumaSettings
from numaplane.bench.cli import main
from numaplane.bench.events import VmSpec, Workload
from numaplane.bench.kernel_time import KernelTimeMetrics
from numaplane.bench.metrics import RunResult
from numaplane.bench.policies import (
    Rebalanced,
    create_policy,
    kernel_step,
    planner,
    rebalancer_names,
)
from numaplane.bench.rebalance_bench import run_rebalancing
from numaplane.bench.runner import run_scenario
from numaplane.bench.scenario import Scenario, parse_scenario
from numaplane.common.units import GiB
from numaplane.controller.policy.types import Placement, VmRequest
from tests.support.autonuma_world import cluster

TWO_VMS = """\
name: autonuma-harness
seed: 4
duration_s: 300
tick_s: 5
hosts:
  - name: h
    nodes:
      - {cpus: 4, memory_gib: 4}
      - {cpus: 4, memory_gib: 4}
    distances: [[10, 21], [21, 10]]
events:
  - at: 0
    create_vms: {count: 2, prefix: v, vcpus: 4, memory_gib: 1,
                 workload: {memory_intensity: 0.7}}
"""


def scenario() -> Scenario:
    return parse_scenario(TWO_VMS, "autonuma-harness.yaml")


def test_autonuma_composes_with_any_placement_like_the_other_rebalancers() -> None:
    assert "autonuma" in rebalancer_names()
    for name in ("first-fit+autonuma", "xen+autonuma", "numaplane+autonuma"):
        policy = create_policy(name)
        assert policy.name == name
        assert isinstance(kernel_step(policy), AutoNuma)
        assert planner(policy) is None  # it acts inside the hosts, not through actions
    assert kernel_step(create_policy("first-fit+numad")) is None
    assert kernel_step(create_policy("first-fit")) is None


def test_list_shows_it() -> None:
    result = CliRunner().invoke(main, ["list"])
    assert result.exit_code == 0, result.output
    assert "autonuma" in result.output


def test_the_runner_runs_the_kernel_step_every_tick() -> None:
    # Two 4-vCPU VMs on two 4-CPU nodes, unbound: the scheduler splits each 2 + 2 and
    # first-touch splits their memory. Swaps between the two gather each on one node.
    plain = run_scenario(scenario(), create_policy("first-fit"))
    balanced = run_scenario(scenario(), create_policy("first-fit+autonuma"))
    assert plain.gib_migrated == 0.0
    assert balanced.gib_migrated > 0.0
    assert balanced.mean_locality > plain.mean_locality + 0.3
    assert balanced.mean_vm_throughput > plain.mean_vm_throughput
    assert balanced.samples[-1].locality == 1.0


def test_the_rebalancing_harness_runs_it_too() -> None:
    run = run_rebalancing(scenario(), create_policy("first-fit+autonuma"), oracle="room")
    assert run.gib_moved > 0.0
    assert run.result.samples[-1].locality == 1.0


def _without_charge(result: RunResult) -> RunResult:
    return replace(result, wall_s=0.0, samples=())


def test_kernel_time_comes_off_the_throughput() -> None:
    # The same run with free hinting faults and copies, and with costly ones: the same
    # placements, moves and localities, a lower throughput.
    costly = AutoNumaSettings(fault_granule_bytes=4096, fault_cost_us=20.0, copy_gbps=0.5)
    free = replace(costly, fault_cost_us=0.0, copy_gbps=1e12)
    runs = {}
    for label, settings in (("free", free), ("costly", costly)):
        policy = Rebalanced("first-fit+autonuma", create_policy("first-fit"), None,
                            AutoNuma(settings))  # fmt: skip
        runs[label] = run_scenario(scenario(), policy)
    assert runs["costly"].gib_migrated == runs["free"].gib_migrated
    assert runs["costly"].mean_locality == runs["free"].mean_locality
    assert runs["costly"].mean_vm_throughput < runs["free"].mean_vm_throughput - 0.01


SPEC = VmSpec(VmRequest("v", 4, 1 * GiB), Workload(memory_intensity=0.7))


def test_the_charge_is_the_kernel_share_of_each_vm_s_throughput() -> None:
    c = cluster()
    spec = SPEC
    h = c.hosts["h"]
    assert c.start(spec, Placement("h", (0,), {}, h.spec.cpus_of_node(0), False)) is None
    plain, charged = KernelTimeMetrics(c.scenario.model), KernelTimeMetrics(c.scenario.model)
    plain.record(c)
    c.kernel_time_share = {spec.request.name: 0.25}
    charged.record(c)
    name = spec.request.name
    assert charged.vm_sum[name] == pytest.approx(plain.vm_sum[name] * 0.75)
    assert charged.samples[-1].mean_throughput == pytest.approx(
        plain.samples[-1].mean_throughput * 0.75
    )
    assert charged.samples[-1].locality == plain.samples[-1].locality


def test_the_figures_repeat_under_the_same_seed() -> None:
    first = run_scenario(scenario(), create_policy("first-fit+autonuma"))
    again = run_scenario(scenario(), create_policy("first-fit+autonuma"))
    assert _without_charge(first) == _without_charge(again)
    assert first.samples == again.samples


def test_nothing_is_charged_without_a_kernel_step() -> None:
    c = cluster()
    h = c.hosts["h"]
    assert c.start(SPEC, Placement("h", (0,), {}, h.spec.cpus_of_node(0), False)) is None
    metrics = KernelTimeMetrics(c.scenario.model)
    metrics.record(c)
    assert metrics.charged_s == 0.0
    assert c.kernel_time_share == {}
