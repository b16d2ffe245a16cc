"""A rebalancing action as the command that carries it out, the move record that starts
its cool-down, and the PlannedMove an operator reads.

- `MemoryMove` -> MigrateMemory to the nodes, at the host's budget rate, vCPUs re-bound
  to the target nodes' CPUs (the rebalancer's moves always move both);
- `AffinityChange` -> SetVcpuAffinity to every CPU of the nodes;
- `HostMove` -> LiveMigrate, sent to the source host, with the target's nodes and rate,
  and a claim on the target (`target_claim`): the VM's memory on the target nodes, held
  while the copy runs (`numaplane.controller.placement.move_tracking` says when it is released).
"""

from __future__ import annotations

from numaplane.common.units import MiB
from numaplane.controller.policy.rebalance import RebalanceSettings
from numaplane.controller.policy.types import (
    Action,
    AffinityChange,
    ClusterView,
    HostMove,
    MemoryMove,
)
from numaplane.controller.state import journal
from numaplane.v1 import link_pb2
from numaplane.v1.admin_pb2 import PlannedMove
from numaplane.v1.state_pb2 import Claim, VmMove
from numaplane.v1.types_pb2 import NodeMemory

KIND_NAMES = {MemoryMove: "migrate-memory", AffinityChange: "set-vcpu-affinity",
              HostMove: "live-migrate"}  # fmt: skip


def kind_of(action: Action) -> str:
    return KIND_NAMES[type(action)]


def to_nodes(action: Action) -> tuple[int, ...]:
    return action.nodes if isinstance(action, AffinityChange) else action.to_nodes


def moved_bytes(action: Action) -> int:
    return 0 if isinstance(action, AffinityChange) else action.bytes_to_move


def command_for(
    action: Action, epoch: int, settings: RebalanceSettings, cluster: ClusterView
) -> link_pb2.Command:
    """The command for `action`, with a new id and the leader's epoch."""
    cmd = link_pb2.Command(id=journal.new_command_id(), epoch=epoch)
    rate = max(1, int(settings.bandwidth_bytes_per_s // MiB))
    if isinstance(action, MemoryMove):
        cmd.migrate_memory.CopyFrom(
            link_pb2.MigrateMemory(
                vm=action.vm, to_nodes=list(action.to_nodes), rate_mib_s=rate, rebind_vcpus=True
            )
        )
    elif isinstance(action, AffinityChange):
        host = cluster.host(action.host)
        if host is None:
            raise ValueError(f"unknown host {action.host!r}")
        cpus = sorted(c for n in action.nodes for c in host.topology.node(n).cpus)
        cmd.set_vcpu_affinity.CopyFrom(link_pb2.SetVcpuAffinity(vm=action.vm, cpus=cpus))
    else:
        cmd.live_migrate.CopyFrom(
            link_pb2.LiveMigrate(
                vm=action.vm,
                target_host=action.to_host,
                target_nodes=list(action.to_nodes),
                rate_mib_s=rate,
            )
        )
    return cmd


def move_record(
    action: Action, cmd: link_pb2.Command, at: float, *, manual: bool = False
) -> VmMove:
    return VmMove(
        vm=action.vm,
        host=action.host,
        kind=kind_of(action),
        to_nodes=list(to_nodes(action)),
        to_host=action.to_host if isinstance(action, HostMove) else "",
        bytes=moved_bytes(action),
        reason=action.reason,
        at=at,
        command_id=cmd.id,
        epoch=cmd.epoch,
        manual=manual,
    )


def planned_move(action: Action) -> PlannedMove:
    return PlannedMove(
        vm=action.vm,
        host=action.host,
        kind=kind_of(action),
        to_nodes=list(to_nodes(action)),
        to_host=action.to_host if isinstance(action, HostMove) else "",
        bytes=moved_bytes(action),
        reason=action.reason,
    )


def target_claim(action: Action, cmd: link_pb2.Command, at: float) -> Claim | None:
    """The room a live migration holds on its target while it runs; None for moves
    within a host (their memory leaves nodes of the same host as it arrives)."""
    if not isinstance(action, HostMove):
        return None
    return Claim(
        host=action.to_host,
        vm=action.vm,
        memory_by_node=[
            NodeMemory(node=n, bytes=b) for n, b in sorted(action.arrival_by_node().items()) if b
        ],
        created_at=at,
        epoch=cmd.epoch,
        command_id=cmd.id,
        move=True,
    )
