"""Conversions between the `common` dataclasses and their protobuf messages.

Both directions live here so that the agent (which encodes) and the controller (which
decodes and validates) cannot drift apart.
"""

from __future__ import annotations

from numaplane.v1 import types_pb2

from common.topology import NumaNode, Topology
from common.vm import BalloonState, VmObservation


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
    """Raises common.topology.TopologyError when the message describes no real machine."""
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
    )
    if vm.balloon is not None:
        msg.balloon.CopyFrom(
            types_pb2.BalloonState(
                known=True,
                target_bytes=vm.balloon.target_bytes,
                actual_bytes=vm.balloon.actual_bytes,
            )
        )
    return msg


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
        balloon=(
            BalloonState(p.balloon.target_bytes, p.balloon.actual_bytes)
            if p.balloon.known
            else None
        ),
        state=p.state or "running",
    )
