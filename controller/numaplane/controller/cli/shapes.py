"""Admin API messages as plain data: the JSON and YAML shapes scripts rely on.

These shapes are a public interface (README, "JSON shapes"); tests check them. Keys of
`memory_by_node` are strings (node ids), as JSON requires, in YAML too so that both
formats carry the same document. Sizes are bytes, locality a fraction 0..1.

    host: name, state (up|down), nodes [{id, cpus, offline_cpus, memory_total_bytes,
          memory_free_bytes, memory_used_bytes}], distances [[int]], vm_count,
          mean_locality, cpus, memory_total_bytes, memory_used_bytes,
          memory_free_bytes, backend, agent_version, last_report_at
    vm:   name, host, state, vcpus, memory_bytes, memory_by_node {node: bytes},
          nodes, locality, balloon {target_bytes, actual_bytes} | null,
          allowed_cpus, running_cpus, id, observed_at,
          reason (why pending/failed/stopping; null when running)
"""

from __future__ import annotations

from typing import Any

from numaplane.v1.admin_pb2 import CommandRecord, Event, Host, Vm
from numaplane.v1.types_pb2 import NumaNode, VmObservation


def node_dict(node: NumaNode) -> dict[str, Any]:
    return {
        "id": node.id,
        "cpus": list(node.cpus),
        "offline_cpus": list(node.offline_cpus),
        "memory_total_bytes": node.memory_total_bytes,
        "memory_free_bytes": node.memory_free_bytes,
        "memory_used_bytes": node.memory_total_bytes - node.memory_free_bytes,
    }


def host_dict(host: Host) -> dict[str, Any]:
    nodes = [node_dict(n) for n in host.topology.nodes]
    total = sum(n["memory_total_bytes"] for n in nodes)
    free = sum(n["memory_free_bytes"] for n in nodes)
    return {
        "name": host.name,
        "state": host.state,
        "nodes": nodes,
        "distances": [list(row.distances) for row in host.topology.distances],
        "vm_count": host.vm_count,
        "mean_locality": host.mean_locality,
        "cpus": sum(len(n["cpus"]) for n in nodes),
        "memory_total_bytes": total,
        "memory_used_bytes": total - free,
        "memory_free_bytes": free,
        "backend": host.capabilities.backend,
        "agent_version": host.agent_version,
        "last_report_at": host.last_report_at or None,
        "numa_balancing": host.numa_balancing if host.HasField("numa_balancing") else None,
    }


def memory_by_node(obs: VmObservation) -> dict[int, int]:
    """Node id -> bytes, summing repeated entries for a node."""
    by_node: dict[int, int] = {}
    for nm in obs.memory_by_node:
        by_node[nm.node] = by_node.get(nm.node, 0) + nm.bytes
    return dict(sorted(by_node.items()))


def vm_dict(vm: Vm) -> dict[str, Any]:
    obs = vm.observed
    by_node = memory_by_node(obs)
    balloon = (
        {"target_bytes": obs.balloon.target_bytes, "actual_bytes": obs.balloon.actual_bytes}
        if obs.balloon.known
        else None
    )
    return {
        "name": vm.name,
        "host": vm.host,
        "state": vm.state,
        "vcpus": obs.vcpus,
        "memory_bytes": obs.memory_bytes,
        "memory_by_node": {str(node): b for node, b in by_node.items()},
        "nodes": [node for node, b in by_node.items() if b > 0],
        "locality": obs.locality,
        "balloon": balloon,
        "allowed_cpus": list(obs.allowed_cpus),
        "running_cpus": list(obs.running_cpus),
        "id": obs.id,
        "observed_at": vm.observed_at or None,
        "reason": vm.reason or None,
    }


def event_dict(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": event.kind,
        "host": event.host,
        "vm": event.vm,
        "message": event.message,
    }


def command_dict(record: CommandRecord) -> dict[str, Any]:
    return {
        "request_id": record.request_id,
        "command_id": record.command_id,
        "host": record.host,
        "kind": record.kind,
        "state": record.state,
        "epoch": record.epoch,
        "message": record.message,
    }
