"""Turn stored records into the admin API's Host and Vm messages.

Pure functions: the servicer reads the store, these decide what an operator sees.
Two rules are derived here rather than stored, so that they can never disagree with
the liveness key that defines them:

* a host is `up` while its lease-bound `alive` key exists, else `down`;
* a VM shows its observed state while its host is up, else `unknown` (its last
  observation is kept and still shown: nothing is deleted when a host goes down).
"""

from __future__ import annotations

from collections.abc import Sequence

from numaplane.common.locality import weighted_mean_locality
from numaplane.controller.admin.records import HostRecords
from numaplane.v1.admin_pb2 import Host, Vm
from numaplane.v1.state_pb2 import VmStatus
from numaplane.v1.types_pb2 import Topology

UP = "up"
DOWN = "down"
UNKNOWN = "unknown"


def host_state(up: bool) -> str:
    return UP if up else DOWN


def vm_state(observed_state: str, host_up: bool) -> str:
    """The VM's observed state while its host is up; `unknown` otherwise.

    An agent that leaves the state empty reported the VM as present, which the
    agent-side model calls `running`.
    """
    if not host_up:
        return UNKNOWN
    return observed_state or "running"


def vm_message(status: VmStatus, host_up: bool) -> Vm:
    return Vm(
        name=status.name,
        host=status.host,
        state=vm_state(status.observed.state, host_up),
        observed=status.observed,
        observed_at=status.observed_at,
    )


def host_message(records: HostRecords, vms: Sequence[VmStatus]) -> Host:
    """The Host message for one host and the VMs last observed on it.

    Free memory per node comes from the last status when there is one (fresher than
    the Hello's topology), so `topology.nodes[*].memory_free_bytes` is the figure to
    show and `total - free` is the memory in use.
    """
    host = Host(name=records.name, state=host_state(records.up))
    if records.info is not None:
        host.topology.CopyFrom(records.info.topology)
        host.capabilities.CopyFrom(records.info.capabilities)
        host.agent_version = records.info.agent_version
    if records.status is not None:
        host.node_free.extend(records.status.node_free)
        host.last_report_at = records.status.observed_at
        if records.status.HasField("numa_balancing"):
            host.numa_balancing = records.status.numa_balancing
        _apply_free(host.topology, {nf.node: nf.free_bytes for nf in records.status.node_free})
    host.vm_count = len(vms)
    host.vms.extend(vm.observed for vm in vms)
    host.mean_locality = weighted_mean_locality(
        (vm.observed.locality, _memory_of(vm)) for vm in vms
    )
    return host


def _apply_free(topology: Topology, free_by_node: dict[int, int]) -> None:
    for node in topology.nodes:
        if node.id in free_by_node:
            # A report can race a Hello with a smaller node; never show free > total.
            node.memory_free_bytes = min(free_by_node[node.id], node.memory_total_bytes)


def _memory_of(vm: VmStatus) -> int:
    """The VM's size, or what was found on its nodes when the size is not known."""
    return vm.observed.memory_bytes or sum(nm.bytes for nm in vm.observed.memory_by_node)
