"""Conversions between the `common` dataclasses and their protobuf messages.

Both directions live here so that the agent (which encodes) and the controller (which
decodes and validates) cannot drift apart.
"""

from __future__ import annotations

from numaplane.common.topology import NumaNode, Topology
from numaplane.common.vm import (
    BalloonCapabilities,
    BalloonState,
    GuestMemoryStats,
    KernelNumaStats,
    VmObservation,
)
from numaplane.v1 import types_pb2


def topology_to_proto(t: Topology) -> types_pb2.Topology:
    return types_pb2.Topology(
        nodes=[
            types_pb2.NumaNode(
                id=n.id,
                cpus=list(n.cpus),
                offline_cpus=list(n.offline_cpus),
                memory_total_bytes=n.memory_total_bytes,
                memory_free_bytes=n.memory_free_bytes,
            )
            for n in t.nodes
        ],
        distances=[types_pb2.DistanceRow(distances=list(row)) for row in t.distances],
    )


def topology_from_proto(p: types_pb2.Topology) -> Topology:
    """Raises numaplane.common.topology.TopologyError when the message describes no real machine."""
    return Topology(
        nodes=tuple(
            NumaNode(
                id=n.id,
                cpus=tuple(n.cpus),
                offline_cpus=tuple(n.offline_cpus),
                memory_total_bytes=n.memory_total_bytes,
                memory_free_bytes=n.memory_free_bytes,
            )
            for n in p.nodes
        ),
        distances=tuple(tuple(r.distances) for r in p.distances),
    )


def vm_to_proto(vm: VmObservation, locality: float) -> types_pb2.VmObservation:
    msg = types_pb2.VmObservation(
        id=vm.id,
        name=vm.name,
        vcpus=vm.vcpus,
        memory_bytes=vm.memory_bytes,
        memory_by_node=[
            types_pb2.NodeMemory(node=n, bytes=b) for n, b in sorted(vm.memory_by_node.items())
        ],
        allowed_cpus=list(vm.allowed_cpus),
        running_cpus=list(vm.running_cpus),
        locality=locality,
        state=vm.state,
        vcpu_nodes=[
            types_pb2.NodeVcpus(node=n, vcpus=v) for n, v in sorted(vm.vcpu_nodes.items())
        ],
    )
    if vm.balloon is not None:
        msg.balloon.CopyFrom(balloon_to_proto(vm.balloon))
    if vm.kernel_numa is not None:
        msg.kernel_numa.CopyFrom(kernel_numa_to_proto(vm.kernel_numa))
    return msg


def kernel_numa_to_proto(k: KernelNumaStats) -> types_pb2.KernelNumaStats:
    return types_pb2.KernelNumaStats(
        preferred_node=-1 if k.preferred_node is None else k.preferred_node,
        faults=k.faults,
        local_faults=k.local_faults,
        pages_migrated=k.pages_migrated,
    )


def kernel_numa_from_proto(p: types_pb2.VmObservation) -> KernelNumaStats | None:
    """None when the agent sent none (balancing off, not Linux, an older agent)."""
    if not p.HasField("kernel_numa"):
        return None
    k = p.kernel_numa
    return KernelNumaStats(
        preferred_node=k.preferred_node if k.preferred_node >= 0 else None,
        faults=k.faults,
        local_faults=k.local_faults,
        pages_migrated=k.pages_migrated,
    )


def balloon_to_proto(b: BalloonState) -> types_pb2.BalloonState:
    """Every field of the balloon; a figure the guest does not report travels as 0."""
    msg = types_pb2.BalloonState(
        known=True,
        target_bytes=b.target_bytes,
        actual_bytes=b.actual_bytes,
        driver=b.driver,
        capabilities=types_pb2.BalloonCapabilities(
            guest_stats=b.capabilities.guest_stats,
            deflate_on_oom=b.capabilities.deflate_on_oom,
            free_page_reporting=b.capabilities.free_page_reporting,
        ),
        max_bytes=b.max_bytes,
        updated_at=b.updated_at,
    )
    if b.guest is not None:
        msg.has_guest_stats = True
        msg.guest_free_bytes = b.guest.free_bytes or 0
        msg.guest_available_bytes = b.guest.available_bytes or 0
        msg.guest_usable_bytes = b.guest.usable_bytes or 0
        msg.swap_in_bytes = b.guest.swap_in_bytes or 0
        msg.swap_out_bytes = b.guest.swap_out_bytes or 0
    return msg


def balloon_from_proto(p: types_pb2.BalloonState) -> BalloonState | None:
    """None for a VM without a (known) balloon."""
    if not p.known:
        return None
    guest = (
        GuestMemoryStats(
            free_bytes=p.guest_free_bytes,
            available_bytes=p.guest_available_bytes,
            usable_bytes=p.guest_usable_bytes,
            swap_in_bytes=p.swap_in_bytes,
            swap_out_bytes=p.swap_out_bytes,
        )
        if p.has_guest_stats
        else None
    )
    return BalloonState(
        target_bytes=p.target_bytes,
        actual_bytes=p.actual_bytes,
        driver=p.driver,
        capabilities=BalloonCapabilities(
            guest_stats=p.capabilities.guest_stats,
            deflate_on_oom=p.capabilities.deflate_on_oom,
            free_page_reporting=p.capabilities.free_page_reporting,
        ),
        guest=guest,
        max_bytes=p.max_bytes,
        updated_at=p.updated_at,
    )


def vm_from_proto(p: types_pb2.VmObservation) -> VmObservation:
    by_node: dict[int, int] = {}
    for nm in p.memory_by_node:
        by_node[nm.node] = by_node.get(nm.node, 0) + nm.bytes
    return VmObservation(
        id=p.id,
        name=p.name,
        vcpus=p.vcpus,
        memory_bytes=p.memory_bytes,
        memory_by_node=by_node,
        allowed_cpus=tuple(p.allowed_cpus),
        running_cpus=tuple(p.running_cpus),
        balloon=balloon_from_proto(p.balloon),
        state=p.state or "running",
        vcpu_nodes=vcpu_nodes_from_proto(p),
        kernel_numa=kernel_numa_from_proto(p),
    )


def vcpu_nodes_from_proto(p: types_pb2.VmObservation) -> dict[int, float]:
    """vCPU-time per node (entries for one node added up); empty from older agents."""
    out: dict[int, float] = {}
    for nv in p.vcpu_nodes:
        out[nv.node] = out.get(nv.node, 0.0) + nv.vcpus
    return out
