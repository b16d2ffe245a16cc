"""Turn a backend observation into a Report message."""

from __future__ import annotations

from numaplane.v1 import link_pb2, types_pb2

from common.topology import Topology
from common.vm import HostObservation
from common.wire import vm_to_proto


def build_report(
    obs: HostObservation, topology: Topology, sequence: int, on_demand: bool
) -> link_pb2.Report:
    return link_pb2.Report(
        sequence=sequence,
        observed_at=obs.observed_at,
        on_demand=on_demand,
        node_free=[
            types_pb2.NodeFree(node=n, free_bytes=b) for n, b in sorted(obs.free_by_node.items())
        ],
        vms=[vm_to_proto(vm, vm.locality(topology)) for vm in obs.vms],
    )
