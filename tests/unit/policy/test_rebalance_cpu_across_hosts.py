"""Floating VMs off a host with more vCPUs than CPUs (`cpu_across_hosts`), worked
examples carried out in `rebalance_world`."""

from __future__ import annotations

from dataclasses import replace

from numaplane.common.units import GiB, MiB
from numaplane.controller.policy.rebalance import NumaplaneRebalancer, RebalanceSettings
from numaplane.controller.policy.types import HostMove
from tests.support.placement_builders import two_nodes
from tests.support.rebalance_world import World, bare, world_vm

SETTINGS = RebalanceSettings(bandwidth_bytes_per_s=512 * MiB, period_s=10.0)


def _packed(*, bound: bool = False, pinned_host: bool = False) -> World:
    """First-fit's packing: three 8-vCPU VMs on a 16-CPU host, the next host idle."""
    w = World({h: bare(two_nodes(cpus=8, memory_gib=16)) for h in ("h0", "h1")})
    for i in range(3):
        vm = world_vm(
            f"vm{i}", "h0", vcpus=8, memory={i % 2: 2 * GiB},
            cpu_nodes={i % 2} if bound else {0, 1}, running={i % 2},
        )  # fmt: skip
        vm.pinned_host = pinned_host
        w.vms[vm.name] = vm
    return w


def _host_moves(w: World) -> list[HostMove]:
    return [a for a in NumaplaneRebalancer(SETTINGS).plan(w.view()) if isinstance(a, HostMove)]


def test_a_floating_vm_leaves_a_host_with_more_vcpus_than_cpus_for_an_idle_one() -> None:
    w = _packed()
    [move] = _host_moves(w)
    assert move.to_host == "h1" and len(move.to_nodes) == 1 and "vCPUs per CPU" in move.reason
    w.apply(move)
    assert sum(vm.vcpus for vm in w.vms.values() if vm.host == "h0") == 16  # within its CPUs
    assert w.vms[move.vm].locality == 1.0  # wholly local on its new host


def test_vms_something_placed_or_the_operator_put_there_stay() -> None:
    assert _host_moves(_packed(bound=True)) == []
    assert _host_moves(_packed(pinned_host=True)) == []


def test_nothing_moves_where_no_host_has_cpus_for_it() -> None:
    w = _packed()
    w.vms["busy"] = world_vm("busy", "h1", vcpus=12, memory={0: 1 * GiB}, cpu_nodes={0, 1},
                             running={0, 1})  # fmt: skip
    assert _host_moves(w) == []


def test_the_rule_can_be_turned_off() -> None:
    off = replace(SETTINGS, cpu_host_moves=False)
    actions = NumaplaneRebalancer(off).plan(_packed().view())
    assert not any(isinstance(a, HostMove) for a in actions)
