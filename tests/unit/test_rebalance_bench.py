"""The rebalancing benchmark: disturbances, convergence and the oracle's bytes, on the
real harness and simulator (parallel-boot: one burst that spills under Xen's placement)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from bench.cli import main
from bench.policies import create_policy
from bench.rebalance_bench import run_rebalancing
from bench.rebalance_cli import policy_for
from bench.scenario import load_scenario


def test_a_burst_is_one_disturbance_that_numaplane_repairs_in_one_period() -> None:
    scenario = load_scenario("parallel-boot")
    run = run_rebalancing(scenario, policy_for("xen+numaplane", scenario, None))
    [burst] = run.disturbances
    assert burst.t == 0.0 and burst.locality < 0.5 and burst.periods == 1
    assert run.converged_within(3) == 1.0
    assert run.record()["meets_target"] is True
    assert run.gib_bound > 0 and run.moved_bytes == sorted(run.moved_bytes)


def test_without_a_rebalancer_nothing_moves_and_nothing_converges() -> None:
    scenario = load_scenario("parallel-boot")
    run = run_rebalancing(scenario, create_policy("xen"))
    assert run.gib_moved == 0.0 and run.disturbances[0].periods is None
    assert run.record()["meets_target"] is False


def test_the_cli_prints_one_record_per_scenario_and_policy() -> None:
    result = CliRunner().invoke(
        main,
        ["rebalance", "parallel-boot", "--policies", "xen,xen+numaplane", "--output", "json"],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["policy"] for r in records] == ["xen", "xen+numaplane"]
    bad = CliRunner().invoke(main, ["rebalance", "parallel-boot", "--policies", "xen+nope"])
    assert bad.exit_code == 2 and "unknown rebalancer 'nope'" in bad.output


def test_a_guest_that_grows_touches_its_new_memory_where_its_vcpus_run() -> None:
    from bench.events import WorkloadChange
    from common.units import GiB

    scenario = load_scenario("rebalance-growth")
    grow = [e for e in scenario.events if isinstance(e, WorkloadChange) and e.at == 300]
    assert [(e.vm, e.guest_memory_bytes) for e in grow] == [("g-0", 8 * GiB)]
    run = run_rebalancing(scenario, create_policy("xen"))
    assert run.result.vms_placed == 10
