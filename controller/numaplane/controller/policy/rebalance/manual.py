"""An operator's move (`numaplane vm migrate VM --nodes N | --host H`), checked and planned.

The operator names where; the policy checks that it can work — the VM runs, the nodes
exist on its host and can hold its memory, the target host is up, schedulable, can
live-migrate and has room — and fills in the rest the same way the rebalancer would:
the bytes to copy, and on another host the compact node set placement would choose. A
refusal is a `ManualMoveRefused` whose message an operator can act on. Manual moves
ignore the cool-down (the operator asked), but count as a move for the next one.
"""

from __future__ import annotations

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.node_choice import compact_home
from numaplane.controller.policy.rebalance.pressure import NOWHERE, arrival_split
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.controller.policy.types import ClusterView, HostMove, HostView, MemoryMove, VmView


class ManualMoveRefused(ValueError):
    """The move cannot be made; the message says why."""


def find_vm(cluster: ClusterView, name: str) -> tuple[HostView, VmView]:
    for host in cluster.hosts:
        for vm in host.vms:
            if vm.name == name and vm.memory_by_node:
                return host, vm
    raise ManualMoveRefused(f"VM {name!r} is not running on any host")


def manual_memory_move(
    cluster: ClusterView, vm_name: str, nodes: tuple[int, ...], s: RebalanceSettings
) -> MemoryMove:
    host, _ = find_vm(cluster, vm_name)
    if host.state == "down":
        raise ManualMoveRefused(f"{vm_name}'s host {host.name} is down")
    targets = tuple(sorted(set(nodes)))
    if not targets:
        raise ManualMoveRefused("no target node given")
    unknown = [n for n in targets if not host.topology.has_node(n)]
    if unknown:
        known = ",".join(map(str, host.topology.node_ids))
        raise ManualMoveRefused(
            f"{host.name} has no node {','.join(map(str, unknown))} (nodes: {known})"
        )
    model = _model(host, s)
    state = model.vms[vm_name]
    if not any(model.nodes[n].total for n in targets):
        raise ManualMoveRefused(f"nodes {_ids(targets)} of {host.name} have no memory")
    cost = state.outside(targets)
    room = sum(model.room(n) for n in targets)
    if cost > room:
        raise ManualMoveRefused(
            f"nodes {_ids(targets)} of {host.name} have {format_size(room)} free for the "
            f"{format_size(cost)} of {vm_name} outside them"
        )
    return MemoryMove(
        vm=vm_name,
        host=host.name,
        to_nodes=targets,
        bytes_to_move=cost,
        reason=f"operator: move {vm_name} to nodes {_ids(targets)} ({format_size(cost)} to copy)",
    )


def manual_host_move(
    cluster: ClusterView,
    vm_name: str,
    to_host: str,
    ctx: RebalanceContext,
    s: RebalanceSettings,
) -> HostMove:
    host, vm = find_vm(cluster, vm_name)
    if to_host == host.name:
        raise ManualMoveRefused(f"{vm_name} already runs on {to_host}")
    target = cluster.host(to_host)
    if target is None:
        raise ManualMoveRefused(f"unknown host {to_host!r}")
    if not target.schedulable:
        raise ManualMoveRefused(f"host {to_host} is {target.state}: it takes no VMs")
    for name in (host.name, to_host):
        if not ctx.can_live_migrate(name):
            raise ManualMoveRefused(f"host {name}'s agent cannot live-migrate")
    model = _model(target, s)
    size = sum(vm.memory_by_node.values())
    arriving = VmState(
        view=vm, memory={NOWHERE: size}, running=frozenset(), load_nodes=frozenset(), bound=True
    )
    nodes = compact_home(model, arriving)
    if nodes is None:
        raise ManualMoveRefused(
            f"host {to_host} has no node set with room for {vm_name} "
            f"({format_size(size)}, {vm.vcpus} vCPUs)"
        )
    return HostMove(
        vm=vm_name,
        host=host.name,
        to_host=to_host,
        to_nodes=nodes,
        bytes_to_move=size,
        reason=f"operator: live-migrate {vm_name} ({format_size(size)}) to {to_host} "
        f"nodes {_ids(nodes)}",
        arrival=tuple(sorted(arrival_split(model, nodes, size).items())),
    )


def _model(host: HostView, s: RebalanceSettings) -> HostModel:
    return HostModel.of(
        host, headroom_fraction=s.node_headroom_fraction, cpu_overcommit=s.cpu_overcommit
    )


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
