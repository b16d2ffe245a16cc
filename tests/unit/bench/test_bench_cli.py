"""`numaplane-bench` through click's runner: JSON fields, the plot, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from numaplane.bench.cli import main

SCENARIO = """\
name: cli-test
duration_s: 30
tick_s: 5
hosts:
  - name: h
    nodes:
      - {cpus: 4, memory_gib: 4}
      - {cpus: 4, memory_gib: 4}
    distances: [[10, 21], [21, 10]]
events:
  - at: 0
    create_vms: {count: 2, prefix: v, vcpus: 2, memory_gib: 1, parallel: true}
"""

FIELDS = {
    "scenario",
    "policy",
    "mean_locality",
    "p5_vm_throughput",
    "mean_vm_throughput",
    "gib_migrated",
    "placements_rejected",
    "reservation_violations",
    "oracle",
    "wall_s",
}


def test_run_prints_the_json_fields(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = CliRunner().invoke(main, ["run", str(path), "--policy", "xen", "--output", "json"])
    assert result.exit_code == 0, result.output
    record = json.loads(result.output)
    assert set(record) >= FIELDS
    assert (record["scenario"], record["policy"]) == ("cli-test", "xen")


def test_compare_writes_a_table_and_a_plot(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    plot = tmp_path / "out.png"
    result = CliRunner().invoke(
        main, ["compare", str(path), "--policies", "first-fit,xen", "--plot", str(plot)]
    )
    assert result.exit_code == 0, result.output
    assert "first-fit" in result.output and "xen" in result.output
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_a_bad_scenario_is_one_line_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("tick_s: 5", "tick_s: 5\nticks: 3"))
    result = CliRunner().invoke(main, ["run", str(path), "--policy", "xen"])
    assert result.exit_code == 2
    assert f"{path}:4: scenario: unknown key 'ticks'" in result.output
    assert "Traceback" not in result.output


def test_an_unknown_policy_is_refused_before_running(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(SCENARIO)
    result = CliRunner().invoke(main, ["compare", str(path), "--policies", "xen,nope"])
    assert result.exit_code == 2 and "unknown policy 'nope'" in result.output


def test_pending_retry_keeps_a_refused_request_until_room_appears(tmp_path: Path) -> None:
    """Three 3 GiB VMs on two 4 GiB nodes: the third waits for the first to leave."""
    path = tmp_path / "s.yaml"
    path.write_text(
        SCENARIO.replace(
            "create_vms: {count: 2, prefix: v, vcpus: 2, memory_gib: 1, parallel: true}",
            "create_vms: {count: 3, prefix: v, vcpus: 2, memory_gib: 3}\n"
            "  - at: 10\n    delete_vm: v-0",
        )
    )
    records = {}
    for mode in ("reject", "retry"):
        result = CliRunner().invoke(
            main,
            ["run", str(path), "--policy", "numaplane", "--pending", mode, "--output", "json"],
        )
        assert result.exit_code == 0, result.output
        records[mode] = json.loads(result.output)
    assert (records["reject"]["placements_rejected"], records["reject"]["vms_placed"]) == (1, 2)
    assert records["retry"]["placements_rejected"] == 0
    assert (records["retry"]["placements_deferred"], records["retry"]["vms_placed"]) == (1, 3)
    assert records["retry"]["mean_wait_s"] == 10.0
