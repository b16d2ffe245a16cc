"""The harness end to end, with tiny policies written here: determinism, bursts, plans."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import pytest

from numaplane.bench.policies import (
    UnknownPolicy,
    create_policy,
    policy_names,
    register,
    unregister,
)
from numaplane.bench.runner import Run, run_scenario
from numaplane.bench.scenario import parse_scenario
from numaplane.bench.timeline import timeline
from numaplane.common.units import GiB
from numaplane.controller.policy.types import (
    Action,
    ClusterView,
    MemoryMove,
    Placement,
    PlacementDecision,
    VmRequest,
)

HOST = """\
name: tiny
seed: 3
duration_s: 60
tick_s: 5
hosts:
  - name: h
    nodes:
      - {cpus: 4, memory_gib: 4}
      - {cpus: 4, memory_gib: 4}
    distances: [[10, 21], [21, 10]]
"""


@dataclass
class NodeZero:
    """Binds every VM strictly to node 0 of the first host; records the free memory it saw."""

    name: str = "node-zero"
    uses_claims: bool = False
    seen_free: list[int] = field(default_factory=list)

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        host = cluster.hosts[0]
        self.seen_free.append(
            host.available_bytes(0) if self.uses_claims else host.topology.node(0).memory_free_bytes
        )
        placement = Placement(
            host=host.name,
            nodes=(0,),
            memory_by_node={0: request.memory_bytes},
            cpus=host.topology.node(0).cpus,
        )
        return PlacementDecision(vm=request.name, policy=self.name, placement=placement)


@dataclass
class MoveOnce(NodeZero):
    """NodeZero, and once a VM is running, moves it to node 1."""

    name: str = "move-once"
    moved: bool = False

    def plan(self, cluster: ClusterView) -> tuple[Action, ...]:
        host = cluster.hosts[0]
        if self.moved or not host.vms:
            return ()
        self.moved = True
        vm = host.vms[0]
        return (MemoryMove(vm.name, host.name, (1,), vm.memory_bytes, "test"),)


def test_a_trivial_scenario_runs_end_to_end() -> None:
    scenario = parse_scenario(
        HOST
        + """\
events:
  - at: 0
    create_vm: {name: a, vcpus: 2, memory_gib: 1, workload: {memory_intensity: 0.5}}
  - at: 30
    delete_vm: a
"""
    )
    result = run_scenario(scenario, NodeZero())
    assert result.vms_placed == 1 and result.placements_rejected == 0
    assert result.mean_locality == 1.0
    # all local, 2 vCPUs on 4 CPUs, 2 x 0.5 x 10 GB/s asked of 40 GB/s: throughput 1.0
    assert result.mean_vm_throughput == pytest.approx(1.0)
    assert [s.vms for s in result.samples] == [1] * 6 + [0] * 6
    assert result.headline()["policy"] == "node-zero"


def test_a_refused_start_counts_as_rejected() -> None:
    scenario = parse_scenario(
        HOST
        + """\
events:
  - at: 0
    create_vms: {count: 3, prefix: v, vcpus: 1, memory_gib: 1.5}
"""
    )
    result = run_scenario(scenario, NodeZero())
    assert (result.vms_placed, result.placements_rejected) == (2, 1)
    assert result.rejections[0][0] == "v-2" and "cannot hold" in result.rejections[0][1]


def test_with_retries_a_refused_request_starts_when_room_appears() -> None:
    """`--pending retry`: v-2 waits for v-0 to leave at 20 s and starts in that tick; v-3,
    deleted while it waits, and v-4, never given room, count as rejected."""
    scenario = parse_scenario(
        HOST
        + """\
events:
  - at: 0
    create_vms: {count: 5, prefix: v, vcpus: 1, memory_gib: 1.5}
  - at: 10
    set_workload: {vm: v-2, memory_intensity: 0.9}
  - at: 15
    delete_vm: v-3
  - at: 20
    delete_vm: v-0
"""
    )
    dropped = run_scenario(scenario, NodeZero())
    assert (dropped.vms_placed, dropped.placements_rejected) == (2, 3)
    assert dropped.placements_deferred == 0
    result = run_scenario(scenario, NodeZero(), retry=True)
    assert result.vms_placed == 3
    assert result.placements_deferred == 1
    assert result.mean_wait_s == pytest.approx(20.0)
    rejected = dict(result.rejections)
    assert set(rejected) == {"v-3", "v-4"}
    assert "deleted while pending" in rejected["v-3"]
    assert "cannot hold" in rejected["v-4"]
    # v-0 and v-1 run until 20 s, then v-1 and v-2.
    assert [s.vms for s in result.samples][:6] == [2, 2, 2, 2, 2, 2]


def test_a_pending_vm_starts_with_the_workload_changed_while_it_waited() -> None:
    scenario = parse_scenario(
        HOST
        + """\
events:
  - at: 0
    create_vms: {count: 3, prefix: v, vcpus: 1, memory_gib: 1.5}
  - at: 5
    set_workload: {vm: v-2, memory_intensity: 0.9}
  - at: 10
    delete_vm: v-0
"""
    )
    run = Run(scenario, NodeZero(), seed=0, retry=True)
    for event in timeline(scenario.events, 0, scenario.duration_s):
        run.apply(event)
        run.retry_pending()
        if event.at == 5:
            assert "v-2" not in run.cluster.vms
    assert "v-2" in run.cluster.vms
    assert run.cluster.workloads["v-2"].memory_intensity == pytest.approx(0.9)


BURST = (
    HOST
    + """\
events:
  - at: 0
    create_vms: {count: 3, prefix: b, vcpus: 1, memory_gib: 1, parallel: true}
"""
)


def test_a_parallel_burst_is_decided_on_one_snapshot_without_claims() -> None:
    policy = NodeZero()
    run_scenario(parse_scenario(BURST), policy)
    assert policy.seen_free == [4 * GiB] * 3


def test_a_policy_that_uses_claims_sees_the_bursts_earlier_claims() -> None:
    policy = NodeZero(uses_claims=True)
    run_scenario(parse_scenario(BURST), policy)
    assert policy.seen_free == [4 * GiB, 3 * GiB, 2 * GiB]


def test_sequential_requests_see_the_previous_vm_started() -> None:
    policy = NodeZero()
    run_scenario(parse_scenario(BURST.replace(", parallel: true", "")), policy)
    assert policy.seen_free == [4 * GiB, 3 * GiB, 2 * GiB]


def test_plan_actions_move_memory_at_the_scenario_bandwidth() -> None:
    scenario = parse_scenario(
        HOST
        + "migration_bandwidth_gib_s: 0.1\n"
        + "events:\n  - at: 0\n    create_vm: {name: a, vcpus: 1, memory_gib: 1}\n"
    )
    result = run_scenario(scenario, MoveOnce())
    # 1 GiB at 0.1 GiB/s takes 10 s = two ticks; locality dips while the vCPU is on node 1.
    assert result.gib_migrated == pytest.approx(1.0)
    assert [round(s.locality, 2) for s in result.samples[:3]] == [0.5, 1.0, 1.0]


CHURN = """\
name: churny
duration_s: 3600
tick_s: 30
hosts:
  - name: h
    count: 3
    nodes:
      - {cpus: 4, memory_gib: 8}
      - {cpus: 4, memory_gib: 8}
    distances: [[10, 21], [21, 10]]
events:
  - at: 0
    churn:
      count: 40
      prefix: c
      mean_lifetime_s: 900
      mix:
        - {vcpus: 2, memory_gib: 2, workload: {memory_intensity: 0.7}}
        - {vcpus: 4, memory_gib: 6}
"""


def test_same_seed_same_result() -> None:
    scenario = parse_scenario(CHURN)
    for name in ("first-fit", "xen"):
        first = replace(run_scenario(scenario, create_policy(name), seed=11), wall_s=0.0)
        second = replace(run_scenario(scenario, create_policy(name), seed=11), wall_s=0.0)
        assert first == second
        other = replace(run_scenario(scenario, create_policy(name), seed=12), wall_s=0.0)
        assert other.samples != first.samples


def test_policies_are_found_by_name_and_can_be_registered() -> None:
    assert {"first-fit", "xen", "numad"} <= set(policy_names())
    register("test-node-zero", NodeZero)
    try:
        assert isinstance(create_policy("test-node-zero"), NodeZero)
        with pytest.raises(ValueError, match="already registered"):
            register("test-node-zero", NodeZero)
    finally:
        unregister("test-node-zero")
    assert "test-node-zero" not in policy_names()
    with pytest.raises(UnknownPolicy, match="known: first-fit"):
        create_policy("best-fit-ever")
