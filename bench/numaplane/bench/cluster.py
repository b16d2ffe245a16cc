"""The simulated cluster: one SimHost per scenario host, and the VMs the policy placed.

It is the harness's stand-in for agents and etcd. It answers `view()` with the same
`ClusterView` the reconciler would build, starts a VM where a `Placement` says (the
binding the placement asks for, in the sim's terms), applies a policy's actions, and
moves simulated time. Claims — memory promised to a VM before its memory is seen — are
kept here, per host and node, until the VM's memory is resident; only policies that use
claims get them in their views.

How a Placement becomes a simulated VM:
- vCPUs may run on `placement.cpus` (all CPUs when empty);
- `bind_memory` True: memory strictly bound to `placement.nodes` (libvirt numatune strict);
- `bind_memory` False on a subset of nodes: preferred (Xen node-affinity: those nodes
  first, falling back to others); on all nodes: plain first-touch.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from numaplane.bench.cluster_views import HostViewCache
from numaplane.bench.events import VmSpec, Workload, WorkloadChange
from numaplane.bench.scenario import Scenario
from numaplane.controller.policy.types import (
    Action,
    AffinityChange,
    BalloonTarget,
    ClusterView,
    HostMove,
    MemoryMove,
    Placement,
)
from numaplane.hostagent.drivers.sim import MemoryBinding, SimError, SimHost


@dataclass
class PlacedVm:
    spec: VmSpec
    host: str
    claim: Mapping[int, int]
    """Memory per node the placement promised; dropped once the VM's memory is resident."""


def host_seed(seed: int, host: str) -> int:
    """A host's own seed, stable across runs and Python versions."""
    return zlib.crc32(f"{seed}:{host}".encode())


class SimCluster:
    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.hosts = {s.name: SimHost(s, seed=host_seed(seed, s.name)) for s in scenario.hosts}
        self.vms: dict[str, PlacedVm] = {}
        self.workloads: dict[str, Workload] = {}
        self.workload_epoch = dict.fromkeys(self.hosts, 0)
        """Bumped when a VM's workload on the host changes (its throughput may change)."""
        self.last_moved: dict[str, float] = {}
        self.host_migrated_bytes = 0
        """Memory copied by live migrations between hosts (HostMove)."""
        self.now = 0.0
        self.kernel_time_share: dict[str, float] = {}
        """VM -> share of its vCPUs' time the host kernel spent on its behalf in the tick
        (NUMA hinting faults and the page copies they cause), as the policy's kernel step
        last set it; the metrics take it off the VM's throughput (`numaplane.bench.kernel_time`)."""
        self._views = HostViewCache()

    # -- views -----------------------------------------------------------------------

    def view(
        self, *, claims: bool, extra: Mapping[str, Mapping[int, int]] | None = None
    ) -> ClusterView:
        """The cluster now; with `claims`, each host's claims in flight (plus `extra`)."""
        specs = {name: vm.spec for name, vm in self.vms.items()}
        in_flight = self.claims_by_host() if claims else {}
        for host, by_node in (extra or {}).items():
            merged = dict(in_flight.get(host, {}))
            for node, b in by_node.items():
                merged[node] = merged.get(node, 0) + b
            in_flight[host] = merged
        return ClusterView(
            hosts=tuple(
                self._views.view(h, specs, in_flight.get(name)) for name, h in self.hosts.items()
            ),
            now=self.now,
            last_moved=dict(self.last_moved),
        )

    def claims_by_host(self) -> dict[str, dict[int, int]]:
        """Claimed memory not yet resident, per host and node."""
        out: dict[str, dict[int, int]] = {}
        for name, vm in self.vms.items():
            if not vm.claim:
                continue
            resident = self.hosts[vm.host].vm(name).memory_by_node
            by_node = out.setdefault(vm.host, {})
            for node, b in vm.claim.items():
                by_node[node] = by_node.get(node, 0) + max(0, b - resident.get(node, 0))
        return out

    def cpu_nodes(self, host: SimHost) -> dict[int, int]:
        return self._views.cpu_nodes(host)

    def running(self) -> Iterator[tuple[SimHost, str]]:
        for name, vm in self.vms.items():
            yield self.hosts[vm.host], name

    # -- acting ----------------------------------------------------------------------

    def start(self, spec: VmSpec, placement: Placement) -> str | None:
        """Start a placed VM; None when it runs, else why the host refused it."""
        host = self.hosts.get(placement.host)
        if host is None:
            return f"placed on unknown host {placement.host!r}"
        request = spec.request
        nodes = frozenset(placement.nodes)
        if placement.bind_memory:
            binding = MemoryBinding.strict(nodes)
        elif nodes and nodes != frozenset(host.spec.node_ids):
            binding = MemoryBinding.preferred(nodes)
        else:
            binding = MemoryBinding.none()
        try:
            host.start_vm(
                request.name,
                request.vcpus,
                request.memory_bytes,
                cpus=placement.cpus or None,
                binding=binding,
                working_set_bytes=spec.workload.working_set_bytes,
            )
        except SimError as e:
            return str(e)
        self.vms[request.name] = PlacedVm(spec=spec, host=host.name, claim=placement.memory_by_node)
        self.workloads[request.name] = spec.workload
        self.release_claims()
        return None

    def release_claims(self) -> None:
        """Forget claims whose VM's memory is all resident (the view now shows it)."""
        for name, vm in self.vms.items():
            if vm.claim and self.hosts[vm.host].vm(name).resident_bytes >= sum(vm.claim.values()):
                vm.claim = {}

    def delete(self, name: str) -> None:
        vm = self.vms.pop(name, None)
        if vm is not None:
            self.hosts[vm.host].delete_vm(name)
            self.workloads.pop(name, None)

    def change_workload(self, change: WorkloadChange) -> None:
        vm = self.vms.get(change.vm)
        if vm is None:  # its placement was rejected: nothing runs to change
            return
        old = self.workloads[change.vm]
        self.workloads[change.vm] = change.applied_to(old)
        if change.guest_memory_bytes is not None:  # at most its configured memory
            target = min(change.guest_memory_bytes, vm.spec.request.memory_bytes)
            self.hosts[vm.host].set_balloon_target(change.vm, target)
        if change.working_set_bytes is not None:
            self.hosts[vm.host].set_working_set(change.vm, change.working_set_bytes)
        self.workload_epoch[vm.host] += 1

    def apply(self, action: Action | BalloonTarget) -> str | None:
        """Apply a policy's action; None when applied, else why not."""
        vm = self.vms.get(action.vm)
        if vm is None or vm.host != action.host:
            return f"{action.vm} is not running on {action.host}"
        if isinstance(action, BalloonTarget):
            return self._set_balloon(action)
        if isinstance(action, HostMove):
            return self._move_host(vm, action)
        host = self.hosts[vm.host]
        nodes = action.to_nodes if isinstance(action, MemoryMove) else action.nodes
        if not nodes or not set(nodes) <= set(host.spec.node_ids):
            return f"{action.host} has no node set {tuple(nodes)}"
        cpus = host.spec.cpus_of_nodes(tuple(nodes))
        try:
            host.set_vcpu_affinity(action.vm, cpus)
            if isinstance(action, MemoryMove):
                host.migrate_memory(
                    action.vm, action.to_nodes, self.scenario.migration_bandwidth_bytes_per_s
                )
                self.last_moved[action.vm] = self.now
        except SimError as e:
            return str(e)
        if isinstance(action, AffinityChange):
            self.last_moved[action.vm] = self.now
        return None

    def _move_host(self, vm: PlacedVm, action: HostMove) -> str | None:
        """Live migration, as the sim models it: the VM restarts on the target bound to
        `to_nodes` with its size and working set, and its resident memory counts as
        copied (at once: the copy's duration is not modelled)."""
        target = self.hosts.get(action.to_host)
        if target is None:
            return f"no host {action.to_host!r}"
        source = self.hosts[vm.host]
        state = source.vm(action.vm)
        try:
            target.start_vm(
                action.vm,
                state.vcpus,
                state.memory_bytes,
                cpus=target.spec.cpus_of_nodes(action.to_nodes),
                binding=MemoryBinding.strict(action.to_nodes),
                working_set_bytes=state.working_set_bytes,
            )
        except SimError as e:
            return str(e)
        source.delete_vm(action.vm)
        self.vms[action.vm] = PlacedVm(spec=vm.spec, host=action.to_host, claim={})
        self.host_migrated_bytes += state.resident_bytes
        self.last_moved[action.vm] = self.now
        self.workload_epoch[vm.host] += 1
        self.workload_epoch[action.to_host] += 1
        return None

    def _set_balloon(self, target: BalloonTarget) -> str | None:
        """A balloon policy's target, as the agent's SetBalloon applies it to the sim."""
        try:
            self.hosts[target.host].set_balloon_target(target.vm, target.target_bytes)
        except SimError as e:
            return str(e)
        return None

    def advance(self, dt: float) -> None:
        for host in self.hosts.values():
            host.advance(dt)
        self.now += dt
        if any(vm.claim for vm in self.vms.values()):
            self.release_claims()

    @property
    def migrated_bytes(self) -> int:
        """NUMA migrations on every host, plus memory copied by host moves."""
        return sum(h.migrated_bytes_total for h in self.hosts.values()) + self.host_migrated_bytes
