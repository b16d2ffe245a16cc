"""Operator moves (`numaplane vm migrate`): what is refused, and what is planned."""

from __future__ import annotations

import re

import pytest

from numaplane.common.units import GiB
from numaplane.controller.policy.rebalance import RebalanceContext, RebalanceSettings
from numaplane.controller.policy.rebalance.manual import (
    ManualMoveRefused,
    manual_host_move,
    manual_memory_move,
)
from tests.support.placement_builders import two_nodes
from tests.support.rebalance_world import World, bare, world_vm

S = RebalanceSettings()


def world() -> World:
    shape = bare(two_nodes(cpus=4, memory_gib=8))
    w = World({"a": shape, "b": shape})
    w.vms["vm"] = world_vm("vm", "a", vcpus=2, memory={0: 3 * GiB}, cpu_nodes={0})
    return w


def test_memory_move_to_nodes_of_its_host() -> None:
    move = manual_memory_move(world().view(), "vm", (1,), S)
    assert (move.host, move.to_nodes, move.bytes_to_move) == ("a", (1,), 3 * GiB)
    assert move.reason == "operator: move vm to nodes 1 (3G to copy)"


@pytest.mark.parametrize(
    ("vm", "nodes", "message"),
    [
        ("ghost", (1,), "VM 'ghost' is not running on any host"),
        ("vm", (5,), "a has no node 5 (nodes: 0,1)"),
        ("vm", (), "no target node given"),
    ],
)
def test_memory_move_refusals(vm: str, nodes: tuple[int, ...], message: str) -> None:
    with pytest.raises(ManualMoveRefused, match=re.escape(message)):
        manual_memory_move(world().view(), vm, nodes, S)


def test_memory_move_refused_without_room() -> None:
    w = world()
    w.vms["fat"] = world_vm("fat", "a", vcpus=1, memory={1: 7 * GiB}, cpu_nodes={1})
    with pytest.raises(ManualMoveRefused, match=r"have .* free for the 3G of vm outside them"):
        manual_memory_move(w.view(), "vm", (1,), S)


def test_host_move_picks_a_compact_home_and_checks_the_target() -> None:
    move = manual_host_move(world().view(), "vm", "b", RebalanceContext(), S)
    assert (move.to_host, len(move.to_nodes), move.bytes_to_move) == ("b", 1, 3 * GiB)
    with pytest.raises(ManualMoveRefused, match="already runs on a"):
        manual_host_move(world().view(), "vm", "a", RebalanceContext(), S)
    with pytest.raises(ManualMoveRefused, match="unknown host 'c'"):
        manual_host_move(world().view(), "vm", "c", RebalanceContext(), S)
    only_a = RebalanceContext(live_migration_hosts=frozenset({"a"}))
    with pytest.raises(ManualMoveRefused, match="host b's agent cannot live-migrate"):
        manual_host_move(world().view(), "vm", "b", only_a, S)
    w = world()
    w.down.add("b")
    with pytest.raises(ManualMoveRefused, match="host b is down"):
        manual_host_move(w.view(), "vm", "b", RebalanceContext(), S)


def test_host_move_says_where_its_memory_lands_for_the_target_claim() -> None:
    move = manual_host_move(world().view(), "vm", "b", RebalanceContext(), S)
    assert sum(b for _, b in move.arrival) == 3 * GiB
    assert {n for n, _ in move.arrival} <= set(move.to_nodes)

