"""Scenario files: bench/README's example parses; every impossible thing names its line."""

from __future__ import annotations

import textwrap

import pytest

from numaplane.bench.events import CreateVms, DeleteVm, WorkloadChange
from numaplane.bench.scenario import (
    ScenarioError,
    bundled_scenarios,
    load_scenario,
    parse_scenario,
)
from numaplane.bench.timeline import timeline
from numaplane.common.units import GiB

EXAMPLE = """\
name: xen-kernbench-8
seed: 1
duration_s: 600          # simulated seconds
tick_s: 5                # report / reconcile period
hosts:
  - name: h              # with count > 1, names get a suffix -0, -1, ...
    count: 1
    nodes:
      - {cpus: 8, memory_gib: 6}
      - {cpus: 8, memory_gib: 6}
    distances: [[10, 21], [21, 10]]
events:                  # 'at' in simulated seconds
  - at: 0
    create_vm: {name: vm1, vcpus: 4, memory_gib: 1, reservation_gib: 0.5, shares: 1000,
                workload: {memory_intensity: 0.6, working_set_gib: 0.8}}
  - at: 0
    create_vms: {count: 8, prefix: vm, vcpus: 4, memory_gib: 1, parallel: true,
                 workload: {memory_intensity: 0.6, working_set_gib: 0.8}}
  - at: 300
    set_workload: {vm: vm1, memory_intensity: 0.9, working_set_gib: 0.9}
  - at: 400
    delete_vm: vm1
"""


def error_of(text: str) -> ScenarioError:
    with pytest.raises(ScenarioError) as err:
        parse_scenario(textwrap.dedent(text), "s.yaml")
    return err.value


def test_the_issue_example_parses() -> None:
    s = parse_scenario(EXAMPLE, "example.yaml")
    assert (s.name, s.seed, s.duration_s, s.tick_s) == ("xen-kernbench-8", 1, 600.0, 5.0)
    assert [h.name for h in s.hosts] == ["h"]
    assert s.hosts[0].nodes[0].memory_bytes == 6 * GiB
    create_one, create_many, change, delete = s.events
    assert isinstance(create_one, CreateVms) and not create_one.parallel
    assert create_one.vms[0].request.reservation_bytes == GiB // 2
    assert create_one.vms[0].workload.working_set_bytes == int(0.8 * GiB)
    assert isinstance(create_many, CreateVms) and create_many.parallel
    assert [vm.request.name for vm in create_many.vms] == [f"vm-{i}" for i in range(8)]
    assert isinstance(change, WorkloadChange) and change.memory_intensity == 0.9
    assert isinstance(delete, DeleteVm) and delete.vm == "vm1"


def test_host_count_stamps_out_suffixed_names() -> None:
    s = parse_scenario(EXAMPLE.replace("count: 1", "count: 3"))
    assert [h.name for h in s.hosts] == ["h-0", "h-1", "h-2"]


def test_every_bundled_scenario_loads() -> None:
    paths = bundled_scenarios()
    assert paths, "bench/scenarios is empty"
    for path in paths:
        assert load_scenario(path).name == path.stem


BASE = """\
name: s
duration_s: 100
hosts:
  - name: h
    nodes:
      - {cpus: 2, memory_gib: 1}
      - {cpus: 2, memory_gib: 1}
    distances: [[10, 21], [21, 10]]
"""


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        (BASE + "colour: blue\n", 9, "unknown key 'colour'"),
        (
            BASE.replace("{cpus: 2, memory_gib: 1}\n    d", "{cpus: 2, memroy_gib: 1}\n    d"),
            7,
            "unknown key 'memroy_gib'",
        ),
        (BASE.replace("[[10, 21], [21, 10]]", "[[10, 21]]"), 8, "expected 2 rows"),
        (BASE.replace("[[10, 21], [21, 10]]", "[[10, 21], [21, 11]]"), 8, "to itself is 10"),
        (BASE.replace("[[10, 21], [21, 10]]", "[[10, 21], [21]]"), 8, "a row of 2"),
        (BASE.replace("memory_gib: 1}\n    d", "memory_gib: 0}\n    d"), 7, "must be > 0"),
        (
            BASE.replace("count", "") + "  - name: h\n    nodes: [{cpus: 1, memory_gib: 1}]\n",
            9,
            "used twice",
        ),
        (BASE + "duration_s: 5\n", 9, "duplicate key"),
        (BASE + "events: [\n", 10, ""),
    ],
)
def test_errors_name_the_line(text: str, line: int, reason: str) -> None:
    err = error_of(text)
    assert (err.file, err.line) == ("s.yaml", line), str(err)
    assert reason in err.reason
    assert str(err).startswith(f"s.yaml:{line}: ")


def test_a_vm_with_no_memory_is_rejected_at_its_line() -> None:
    err = error_of(
        BASE
        + """\
events:
  - at: 0
    create_vm: {name: a, vcpus: 1, memory_gib: 1}
  - at: 1
    create_vm:
      name: b
      vcpus: 1
      memory_gib: 0
"""
    )
    assert err.line == 16 and "must be > 0" in err.reason


def test_events_must_name_existing_vms() -> None:
    unknown = error_of(BASE + "events:\n  - at: 5\n    delete_vm: ghost\n")
    assert unknown.line == 10 and "no VM named 'ghost'" in unknown.reason
    early = error_of(
        BASE
        + "events:\n"
        + "  - at: 50\n    create_vm: {name: a, vcpus: 1, memory_gib: 1}\n"
        + "  - at: 10\n    set_workload: {vm: a, memory_intensity: 0.2}\n"
    )
    assert early.line == 12 and "at t=10" in early.reason
    twice = error_of(
        BASE
        + "events:\n"
        + "  - at: 0\n    create_vm: {name: vm-1, vcpus: 1, memory_gib: 1}\n"
        + "  - at: 0\n    create_vms: {count: 2, prefix: vm, vcpus: 1, memory_gib: 1}\n"
    )
    assert twice.line == 12 and "created twice" in twice.reason
    gone = error_of(
        BASE
        + "events:\n"
        + "  - at: 0\n    create_vm: {name: a, vcpus: 1, memory_gib: 1}\n"
        + "  - at: 1\n    delete_vm: a\n"
        + "  - at: 2\n    delete_vm: a\n"
    )
    assert gone.line == 14 and "already deleted" in gone.reason


def test_vm_constraints_are_checked_against_the_hosts() -> None:
    err = error_of(
        BASE + "events:\n  - at: 0\n    create_vm: {name: a, vcpus: 1, memory_gib: 1, nodes: [0]}\n"
    )
    assert "nodes need a host" in err.reason
    err = error_of(
        BASE
        + "events:\n  - at: 0\n"
        + "    create_vm: {name: a, vcpus: 1, memory_gib: 1, host: h, nodes: [3]}\n"
    )
    assert "no nodes [3]" in err.reason


def test_an_event_has_exactly_one_kind_and_a_time_inside_the_run() -> None:
    err = error_of(BASE + "events:\n  - at: 0\n    delete_vm: a\n    create_vm: {name: a}\n")
    assert "exactly one of" in err.reason and err.line == 10
    err = error_of(BASE + "events:\n  - at: 500\n    create_vm: {name: a}\n")
    assert "must be <= 100" in err.reason and err.line == 10


def test_model_parameters_can_be_overridden() -> None:
    s = parse_scenario(BASE + "model: {swap_penalty: 10}\n")
    assert s.model.swap_penalty == 10.0
    err = error_of(BASE + "model: {speed_of_light: 1}\n")
    assert "unknown key 'speed_of_light'" in err.reason


CHURN = (
    BASE.replace("duration_s: 100", "duration_s: 1000")
    + """\
events:
  - at: 0
    churn:
      count: 20
      prefix: c
      end_s: 800
      mean_lifetime_s: 200
      mix:
        - {weight: 3, vcpus: 1, memory_gib: 0.25}
        - {weight: 1, vcpus: 2, memory_gib: 0.5, workload: {memory_intensity: 0.9}}
"""
)


def test_churn_expands_the_same_way_for_the_same_seed() -> None:
    s = parse_scenario(CHURN)
    first = timeline(s.events, seed=4, duration_s=s.duration_s)
    assert first == timeline(s.events, seed=4, duration_s=s.duration_s)
    assert first != timeline(s.events, seed=5, duration_s=s.duration_s)
    arrivals = [e for e in first if isinstance(e, CreateVms)]
    assert [e.vms[0].request.name for e in arrivals] == [f"c-{i}" for i in range(20)]
    assert all(0 <= e.at <= 800 for e in arrivals)
    assert [e.at for e in first] == sorted(e.at for e in first)


def test_churn_vms_cannot_be_named_by_other_events() -> None:
    err = error_of(CHURN + "  - at: 900\n    delete_vm: c-1\n")
    assert "churn" in err.reason
