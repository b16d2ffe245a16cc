"""The rebalancing benchmark: disturbances, convergence and the oracle's bytes, on the
real harness and simulator (parallel-boot: one burst that spills under Xen's placement)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from numaplane.bench.cli import main
from numaplane.bench.policies import create_policy
from numaplane.bench.rebalance_bench import run_rebalancing
from numaplane.bench.rebalance_cli import policy_for
from numaplane.bench.scenario import load_scenario


def test_a_burst_is_one_disturbance_that_numaplane_repairs_in_one_period() -> None:
    scenario = load_scenario("parallel-boot")
    run = run_rebalancing(scenario, policy_for("xen+numaplane", scenario, None))
    [burst] = run.disturbances
    assert burst.t == 0.0 and burst.locality < 0.5 and burst.periods == 1
    assert run.converged_within(3) == 1.0
    assert run.gib_bound > 0 and run.moved_bytes == sorted(run.moved_bytes)
    # With room, the oracle makes every VM local by re-pinning vCPUs and moving 1.5 GiB
    # (1 GiB reaches 95 % of that); numaplane, which keeps one vCPU per CPU on a node and
    # 2 % of each node free, moves 2.5 GiB: over 1.25 x. Within those same limits the
    # oracle needs 2.5 GiB too. Against remote bytes (blind) it was under.
    assert run.oracle == "room" and run.oracle_exact
    assert (run.gib_bound, run.gib_strict_bound) == (1.5, 1.0)
    assert run.gib_moved == 2.5 and run.record()["meets_target"] is False
    limits = run_rebalancing(
        scenario, policy_for("xen+numaplane", scenario, None), oracle="room-limits"
    )
    assert limits.gib_bound == 2.5 and limits.record()["meets_target"] is True
    blind = run_rebalancing(scenario, policy_for("xen+numaplane", scenario, None), oracle="blind")
    assert blind.gib_bound > 14 and blind.record()["meets_target"] is True


def test_a_growth_on_a_full_host_costs_the_room_oracle_a_whole_exchange() -> None:
    # rebalance-growth without a rebalancer: guests grow during the tick after their event,
    # so the deficit is measured one tick on (with and without the events); measured
    # right after the events, as before, the 900 s growth went unseen. At 900 s g-2 grows
    # to 8 GiB and spills 2 GiB onto node 3 (node 2 is full): the oracle's cheapest full
    # repair then moves 4 GiB. At 1200 s h-3 grows, 4 GiB landing on node 1: 6 GiB more.
    # The blind count credited 3.2 GiB in all.
    scenario = load_scenario("rebalance-growth")
    room = run_rebalancing(scenario, create_policy("xen"))
    blind = run_rebalancing(scenario, create_policy("xen"), oracle="blind")
    assert [d.t for d in room.disturbances] == [900.0, 1200.0]
    assert [round(d.deficit_bytes / 2**30, 1) for d in room.disturbances] == [4.0, 6.0]
    assert room.gib_bound == 10.0 and round(blind.gib_bound, 1) == 3.2
    assert room.oracle_locality == 1.0 and room.oracle_exact


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
    assert {r["oracle"] for r in records} == {"room"}
    blind = CliRunner().invoke(
        main,
        [
            "rebalance",
            "parallel-boot",
            "--policies",
            "xen",
            "--oracle",
            "blind",
            "--output",
            "json",
        ],
    )
    assert blind.exit_code == 0, blind.output
    assert json.loads(blind.stdout)[0]["oracle"] == "blind"
    limits = CliRunner().invoke(
        main,
        ["rebalance", "parallel-boot", "--policies", "xen", "--oracle", "room-limits",
         "--output", "json"],
    )  # fmt: skip
    assert limits.exit_code == 0, limits.output
    [record] = json.loads(limits.stdout)
    assert record["oracle"] == "room-limits" and record["strict_oracle_gib"] == 1.0
    bad = CliRunner().invoke(main, ["rebalance", "parallel-boot", "--policies", "xen+nope"])
    assert bad.exit_code == 2 and "unknown rebalancer 'nope'" in bad.output


def test_a_guest_that_grows_touches_its_new_memory_where_its_vcpus_run() -> None:
    from numaplane.bench.events import WorkloadChange
    from numaplane.common.units import GiB

    scenario = load_scenario("rebalance-growth")
    grow = [e for e in scenario.events if isinstance(e, WorkloadChange) and e.at == 300]
    assert [(e.vm, e.guest_memory_bytes) for e in grow] == [("g-0", 8 * GiB)]
    run = run_rebalancing(scenario, create_policy("xen"))
    assert run.result.vms_placed == 10
