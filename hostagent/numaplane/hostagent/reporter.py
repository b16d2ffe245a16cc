"""Turn a backend observation into a Report message."""

from __future__ import annotations

from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation
from numaplane.common.wire import vm_to_proto
from numaplane.v1 import link_pb2, types_pb2


def build_report(
    obs: HostObservation, topology: Topology, sequence: int, on_demand: bool
) -> link_pb2.Report:
    report = link_pb2.Report(
        sequence=sequence,
        observed_at=obs.observed_at,
        on_demand=on_demand,
        node_free=[
            types_pb2.NodeFree(node=n, free_bytes=b) for n, b in sorted(obs.free_by_node.items())
        ],
        vms=[vm_to_proto(vm, vm.locality(topology)) for vm in obs.vms],
    )
    if obs.numa_balancing is not None:
        report.numa_balancing = obs.numa_balancing
    return report
