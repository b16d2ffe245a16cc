"""From what etcd holds to what policies read: `ClusterSnapshot` -> `ClusterView`.

Pure (no I/O): the placement loop and the rebalancer build their view here, from one
snapshot, so that both see hosts, VMs and claims the same way. The rules, and why:

* A host without its Hello record (`info`) has no known topology and is left out. Free
  memory per node is the last status report's, clamped to the node's total; before the
  first report it is the Hello's.
* `schedulable` is up and neither cordoned nor draining; `state` names why not
  (`down`, `draining`, `cordoned`), which policies quote in their rejections.
* A VM is on the host its status says it was last observed on, with the memory, CPU
  binding and vCPU positions observed; its group comes from its spec and its memory
  binding from its placement. A VM the reconciler has started but its host has not yet
  reported is listed too (group rules must see it) with no memory and no CPU nodes: its
  memory and load are its claim's, counted once, below.
* Claims in flight: for each claim, the part of it the host's free memory does not yet
  reflect. A host status at least as new as the VM's own status already includes what
  that VM status shows on each node, so only the rest is still in flight; an older host
  status may include none of it, so the whole claim counts. Counting too much only
  delays a placement; counting too little could overfill a node.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from numaplane.common.locality import vcpus_by_node
from numaplane.common.topology import Topology, TopologyError
from numaplane.common.wire import topology_from_proto, vcpu_nodes_from_proto
from numaplane.controller.policy.types import ClusterView, HostView, VmView
from numaplane.controller.state.snapshot import ClusterSnapshot, HostRecord, VmRecord
from numaplane.v1.state_pb2 import Claim, VmStatus

log = logging.getLogger(__name__)

LIVE_PLACEMENT_STATES = frozenset({"starting", "running", "stopping"})
"""Placement states in which the VM holds (or is about to hold) room on its host."""


def build_view(
    snapshot: ClusterSnapshot, *, now: float = 0.0, last_moved: Mapping[str, float] | None = None
) -> ClusterView:
    """The ClusterView of a snapshot (hosts in name order, so decisions are repeatable)."""
    hosts: list[HostView] = []
    for name in sorted(snapshot.hosts):
        record = snapshot.hosts[name]
        topology = host_topology(record)
        if topology is None:
            continue
        hosts.append(
            HostView(
                name=name,
                topology=topology,
                schedulable=record.schedulable,
                state=record.state,
                vms=_vms_on(name, topology, snapshot),
                claimed_by_node=claims_in_flight(name, record, snapshot),
            )
        )
    return ClusterView(hosts=tuple(hosts), now=now, last_moved=dict(last_moved or {}))


def host_topology(record: HostRecord) -> Topology | None:
    """The host's topology with its last reported free memory; None when unknown."""
    if record.info is None or not record.info.topology.nodes:
        return None
    try:
        topology = topology_from_proto(record.info.topology)
    except TopologyError as e:
        log.warning("host %s: unusable topology: %s", record.name, e)
        return None
    if record.status is not None and record.status.node_free:
        free = {nf.node: nf.free_bytes for nf in record.status.node_free}
        topology = topology.with_free(
            {
                n.id: min(free[n.id], n.memory_total_bytes)
                for n in topology.nodes
                if n.id in free
            }
        )
    return topology


def claims_in_flight(host: str, record: HostRecord, snapshot: ClusterSnapshot) -> dict[int, int]:
    """Claimed memory per node that the host's last status does not yet reflect."""
    by_node: dict[int, int] = {}
    for versioned in snapshot.claims_on(host):
        claim = versioned.value
        seen = _reflected(record, snapshot.vms.get(claim.vm), host)
        for nm in claim.memory_by_node:
            left = max(0, nm.bytes - seen.get(nm.node, 0))
            if left:
                by_node[nm.node] = by_node.get(nm.node, 0) + left
    return by_node


def claimed_total(claim: Claim) -> int:
    return sum(nm.bytes for nm in claim.memory_by_node)


def memory_by_node(status: VmStatus) -> dict[int, int]:
    by_node: dict[int, int] = {}
    for nm in status.observed.memory_by_node:
        by_node[nm.node] = by_node.get(nm.node, 0) + nm.bytes
    return by_node


def observed_running(vm: VmRecord | None, host: str) -> VmStatus | None:
    """The VM's status if it was last observed running on `host`."""
    if vm is None or vm.status is None:
        return None
    status = vm.status.value
    if status.host != host or (status.observed.state or "running") != "running":
        return None
    return status


def _reflected(record: HostRecord, vm: VmRecord | None, host: str) -> dict[int, int]:
    """Memory of `vm` per node that the host's last status already counts as used."""
    status = observed_running(vm, host)
    if status is None or record.status is None:
        return {}
    if record.status.observed_at < status.observed_at:
        return {}
    return memory_by_node(status)


def _vms_on(host: str, topology: Topology, snapshot: ClusterSnapshot) -> tuple[VmView, ...]:
    views: list[VmView] = []
    for name in sorted(snapshot.vms):
        vm = snapshot.vms[name]
        spec = vm.spec.value if vm.spec is not None else None
        placement = vm.placement.value if vm.placement is not None else None
        on_here = placement is not None and placement.host == host
        group = (spec.group or None) if spec is not None else None
        pinned_host = spec is not None and bool(spec.host)
        pinned_nodes = spec is not None and bool(spec.host) and len(spec.nodes) > 0
        bound = tuple(placement.nodes) if on_here and placement and placement.nodes else None
        status = observed_running(vm, host)
        if status is not None:
            obs = status.observed
            cpu_nodes = topology.nodes_of_cpus(obs.allowed_cpus) or frozenset(topology.node_ids)
            views.append(
                VmView(
                    name=name,
                    host=host,
                    vcpus=obs.vcpus,
                    memory_bytes=obs.memory_bytes,
                    memory_by_node=memory_by_node(status),
                    cpu_nodes=cpu_nodes,
                    running_nodes=topology.nodes_of_cpus(obs.running_cpus),
                    vcpus_by_node=(
                        vcpu_nodes_from_proto(obs)
                        or vcpus_by_node(obs.running_cpus, topology.node_of_cpu)
                    ),
                    floating=cpu_nodes >= topology.cpu_node_ids and bound is None,
                    group=group,
                    bound_nodes=bound,
                    pinned_host=pinned_host,
                    pinned_nodes=pinned_nodes,
                    guest_bytes=obs.balloon.actual_bytes if obs.balloon.known else None,
                )
            )
        elif on_here and placement is not None and placement.state == "starting":
            views.append(
                VmView(
                    name=name,
                    host=host,
                    vcpus=spec.vcpus if spec is not None else 0,
                    memory_bytes=spec.memory_bytes if spec is not None else 0,
                    memory_by_node={},
                    cpu_nodes=frozenset(),
                    running_nodes=frozenset(),
                    group=group,
                    bound_nodes=bound,
                    pinned_host=pinned_host,
                    pinned_nodes=pinned_nodes,
                )
            )
    return tuple(views)
