"""The decision-time benchmark runs and measures what it says (figures are not asserted:
they time the machine, see bench/README.md)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from numaplane.bench.cli import main
from numaplane.bench.decision_time import distances, span_8_of_16
from numaplane.controller.policy.placement import get_placement_policy


def test_the_16_node_case_really_needs_8_nearest_nodes() -> None:
    case = span_8_of_16(seed=1, requests=2)
    assert distances(4, 4)[0][:5] == (10, 12, 12, 12, 32)
    for request in case.requests:
        decision = get_placement_policy("numaplane").place(request, case.cluster)
        assert decision.placement is not None
        nodes = decision.placement.nodes
        assert len(nodes) == 8
        # Two whole sockets (4 nodes each), not nodes scattered over four.
        assert len({n // 4 for n in nodes}) == 2


def test_cli_prints_one_record_per_case_and_policy() -> None:
    result = CliRunner().invoke(
        main, ["decision-time", "--requests", "2", "--policies", "numaplane,first-fit",
               "--output", "json"]
    )
    assert result.exit_code == 0, result.output
    records = json.loads(result.stdout)
    assert [(r["case"], r["policy"]) for r in records] == [
        ("cluster-1000", "numaplane"), ("cluster-1000", "first-fit"),
        ("span-8-of-16", "numaplane"), ("span-8-of-16", "first-fit"),
    ]
    assert all(r["samples"] == 2 and r["placed"] == 2 for r in records)
    assert all(r["p50_ms"] <= r["p99_ms"] <= r["max_ms"] for r in records)
    assert "cores" in records[0]["machine"]
    bad = CliRunner().invoke(main, ["decision-time", "--policies", "best"])
    assert bad.exit_code == 2 and "unknown policy 'best'" in bad.output
