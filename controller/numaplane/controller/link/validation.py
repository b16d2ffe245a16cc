"""Checks on what agents send, before anything is stored.

Everything an agent says is checked against the topology it announced: an agent with a
bug (or a hostile one) gets a LinkError naming the problem, and the store is untouched.
"""

from __future__ import annotations

import math

from numaplane.common.topology import Topology, TopologyError
from numaplane.common.wire import topology_from_proto
from numaplane.controller.state import keyspace
from numaplane.v1 import link_pb2


class InvalidMessage(ValueError):
    """The agent's message was refused; the text is sent back on the stream."""


def validate_hello(hello: link_pb2.Hello) -> Topology:
    if not keyspace.valid_name(hello.host):
        raise InvalidMessage(
            f"host name {hello.host!r} is not valid (letters, digits, '.', '_', '-'; "
            "at most 128 characters)"
        )
    try:
        return topology_from_proto(hello.topology)
    except TopologyError as e:
        raise InvalidMessage(f"host {hello.host}: bad topology: {e}") from None


def validate_report(report: link_pb2.Report, topology: Topology) -> None:
    for nf in report.node_free:
        if not topology.has_node(nf.node):
            raise InvalidMessage(f"free memory reported for node {nf.node}, not in topology")
        total = topology.node(nf.node).memory_total_bytes
        if nf.free_bytes > total:
            raise InvalidMessage(
                f"node {nf.node}: free memory {nf.free_bytes} exceeds its total {total}"
            )
    ids: set[str] = set()
    names: set[str] = set()
    host_total = topology.memory_total_bytes
    for vm in report.vms:
        where = f"VM {vm.name or vm.id!r}"
        if not vm.id:
            raise InvalidMessage(f"{where}: empty id")
        if vm.id in ids:
            raise InvalidMessage(f"duplicate VM id {vm.id!r} in one report")
        ids.add(vm.id)
        if not keyspace.valid_name(vm.name):
            raise InvalidMessage(f"{where}: name is not valid")
        if vm.name in names:
            raise InvalidMessage(f"duplicate VM name {vm.name!r} in one report")
        names.add(vm.name)
        placed = 0
        for nm in vm.memory_by_node:
            if not topology.has_node(nm.node):
                raise InvalidMessage(f"{where}: memory on node {nm.node}, not in topology")
            if nm.bytes > topology.node(nm.node).memory_total_bytes:
                raise InvalidMessage(
                    f"{where}: {nm.bytes} bytes on node {nm.node}, more than the node holds"
                )
            placed += nm.bytes
        if placed > host_total:
            raise InvalidMessage(f"{where}: {placed} bytes placed, more than the host holds")
        if vm.memory_bytes > 64 * host_total:
            raise InvalidMessage(f"{where}: memory size {vm.memory_bytes} is impossible")
        for cpu in (*vm.allowed_cpus, *vm.running_cpus):
            if topology.node_of_cpu(cpu) is None:
                raise InvalidMessage(f"{where}: CPU {cpu} is not an online CPU of this host")
        if not 0.0 <= vm.locality <= 1.0:
            raise InvalidMessage(f"{where}: locality {vm.locality} is outside 0..1")
        measured = 0.0
        for nv in vm.vcpu_nodes:
            if not topology.has_node(nv.node) or not topology.node(nv.node).cpus:
                raise InvalidMessage(f"{where}: vCPU time on node {nv.node}, which has no CPUs")
            if not math.isfinite(nv.vcpus) or nv.vcpus < 0:
                raise InvalidMessage(f"{where}: vCPU time {nv.vcpus} on node {nv.node}")
            measured += nv.vcpus
        if measured > vm.vcpus * (1 + 1e-6) + 1e-6:
            raise InvalidMessage(
                f"{where}: {measured:g} vCPUs' time reported for a VM of {vm.vcpus} vCPUs"
            )
