"""Balloon policies in the benchmark: inputs read off the simulator, targets applied,
the metrics, and the bundled single-node-pressure scenario's outcome per policy."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from numaplane.bench.balloon import BalloonStep, balloon_hosts, create_balloon_policy
from numaplane.bench.cli import main
from numaplane.bench.cluster import SimCluster
from numaplane.bench.metrics import RunResult
from numaplane.bench.policies import create_policy
from numaplane.bench.runner import run_scenario
from numaplane.bench.scenario import load_scenario
from numaplane.common.units import GiB
from numaplane.controller.policy.types import BalloonTarget, Placement

SCENARIO = """\
name: balloon-test
duration_s: 120
tick_s: 10
hosts:
  - name: h
    nodes:
      - {cpus: 4, memory_gib: 4}
      - {cpus: 4, memory_gib: 4}
    distances: [[10, 21], [21, 10]]
events:
  - at: 0
    create_vm: {name: a, vcpus: 1, memory_gib: 3, reservation_gib: 2, host: h, nodes: [0],
                workload: {working_set_gib: 1}}
  - at: 0
    create_vm: {name: b, vcpus: 1, memory_gib: 2, host: h, nodes: [1],
                workload: {working_set_gib: 1.5}}
"""


@pytest.fixture
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "b.yaml"
    path.write_text(SCENARIO)
    return path


def started(scenario_file: Path) -> SimCluster:
    scenario = load_scenario(str(scenario_file))
    cluster = SimCluster(scenario, 0)
    (a, b) = (e for e in scenario.events)
    for event, node in ((a, 0), (b, 1)):
        (spec,) = event.vms  # type: ignore[union-attr]
        cpus = cluster.hosts["h"].spec.cpus_of_node(node)
        assert cluster.start(spec, Placement("h", (node,), {}, cpus)) is None
    return cluster


def test_inputs_are_what_a_sim_agent_reports(scenario_file: Path) -> None:
    (host,) = balloon_hosts(started(scenario_file))
    assert [n.total_bytes for n in host.nodes] == [4 * GiB, 4 * GiB]
    assert [n.free_bytes for n in host.nodes] == [1 * GiB, 2 * GiB]
    a, b = host.vms
    assert (a.name, a.max_bytes, a.reservation_bytes, a.shares, a.auto) == (
        "a", 3 * GiB, 2 * GiB, 1000, True)
    assert a.memory_by_node == {0: 3 * GiB}
    assert a.guest is not None and a.guest.usable_bytes == 2 * GiB  # 3 GiB less 1 in use
    assert b.guest is not None and b.guest.usable_bytes == GiB // 2


def test_targets_are_applied_through_the_cluster(scenario_file: Path) -> None:
    cluster = started(scenario_file)
    assert cluster.apply(BalloonTarget("a", "h", 2 * GiB, "test")) is None
    cluster.advance(1.0)
    assert cluster.hosts["h"].vm("a").guest_memory_bytes == 2 * GiB
    assert cluster.apply(BalloonTarget("a", "h", 4 * GiB, "test")) is not None  # above max
    assert cluster.apply(BalloonTarget("a", "x", GiB, "test")) is not None


def test_a_step_counts_what_it_reclaimed(scenario_file: Path) -> None:
    cluster = started(scenario_file)  # node 0 at 25%: not short, host at 37.5%: relief
    step = BalloonStep(create_balloon_policy("numaplane"))
    step(cluster)
    assert step.reclaimed_bytes == 0 and step.refused == 0


def run(name: str, balloon: str) -> RunResult:
    return run_scenario(
        load_scenario(name), create_policy("numaplane"), balloon=create_balloon_policy(balloon)
    )


@pytest.fixture(scope="module")
def single_node() -> dict[str, RunResult]:
    return {b: run("single-node-pressure", b) for b in ("none", "mom", "numaplane")}


def test_single_node_pressure_is_seen_only_per_node(single_node: dict[str, RunResult]) -> None:
    none, mom, ours = (single_node[b].balloon for b in ("none", "mom", "numaplane"))
    assert none is not None and mom is not None and ours is not None
    # The host stays above MOM's 20 % line: MOM reclaims nothing, node 0 stays short.
    assert mom.gib_reclaimed == 0 and mom.unrelieved == 1 and mom.min_free < 0.10
    assert none.unrelieved == 1
    # numaplane relieves node 0 from the VMs on it and keeps it relieved.
    assert ours.unrelieved == 0 and ours.relieve_s is not None and ours.relieve_s <= 60
    assert ours.gib_reclaimed > 0 and ours.min_free > mom.min_free
    assert ours.pressure_s < mom.pressure_s / 10


def test_no_balloon_policy_violates_a_reservation(single_node: dict[str, RunResult]) -> None:
    assert all(r.reservation_violations == 0 for r in single_node.values())


def test_runs_are_deterministic(single_node: dict[str, RunResult]) -> None:
    again = run("single-node-pressure", "numaplane")
    assert again.balloon is not None and single_node["numaplane"].balloon is not None
    assert again.balloon.samples == single_node["numaplane"].balloon.samples
    assert again.headline() | {"wall_s": 0} == single_node["numaplane"].headline() | {"wall_s": 0}


def test_cli_compare_with_balloons(scenario_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "b.png"
    result = CliRunner().invoke(
        main,
        ["compare", str(scenario_file), "--policies", "numaplane", "--balloons",
         "none,mom,numaplane", "--output", "json", "--plot", str(out)],
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [r["balloon"] for r in records] == ["none", "mom", "numaplane"]
    assert {"min_free", "gib_reclaimed", "relieve_s", "swap_events"} <= set(records[0])
    assert out.stat().st_size > 0


def test_cli_refuses_an_unknown_balloon_policy(scenario_file: Path) -> None:
    result = CliRunner().invoke(
        main, ["run", str(scenario_file), "--policy", "numaplane", "--balloon", "esx"]
    )
    assert result.exit_code == 2
    assert "unknown balloon policy 'esx'" in result.output
    assert len(result.output.strip().splitlines()) == 1
