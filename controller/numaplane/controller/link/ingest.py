"""Report ingestion for one host: write what changed materially, at a bounded rate.

Agents report every few seconds; etcd is not a time-series database. A record is
rewritten only when it changed by more than the material thresholds, and then at most
once per `status_min_interval_s` (a change that arrives too soon stays pending and is
written by a later report, because it is still a change against what was last written).
A VM that leaves the host's report has its status deleted, guarded by the revision we
wrote, so that a VM that has meanwhile moved to another host is not touched.

A VM's locality is stored as `numaplane.common.locality` defines it, per vCPU. An agent
that sends no `vcpu_nodes` predates that definition (its `locality` is the share of
memory on the nodes where the vCPUs run): its figure is recomputed here from the CPU each
vCPU last ran on, so every stored status means one thing whatever the agent's version.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from numaplane.common.locality import locality, vcpus_by_node, weighted_mean_locality
from numaplane.common.topology import Topology
from numaplane.controller.metrics import ControllerMetrics
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode, encode
from numaplane.controller.store import ClusterStore
from numaplane.v1 import link_pb2, state_pb2, types_pb2

log = logging.getLogger(__name__)

TXN_CHUNK = 64
"""etcd refuses transactions over 128 operations by default; stay well below."""


@dataclass
class _Written:
    obs: types_pb2.VmObservation
    at: float
    revision: int


class ReportIngest:
    def __init__(
        self,
        store: ClusterStore,
        host: str,
        topology: Topology,
        settings: ControllerSettings,
        metrics: ControllerMetrics,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._host = host
        self._topology = topology
        self._s = settings
        self._metrics = metrics
        self._clock = clock
        self._vms: dict[str, _Written] = {}
        self._status: state_pb2.HostStatus | None = None
        self._status_at = -1e18
        self._loaded = False

    async def _load_existing(self) -> None:
        """Adopt what a previous session (or replica) wrote for this host.

        Every session scans all VM statuses, so after a controller restart N hosts read
        N hosts' VMs: the host field is picked out with the C JSON parser first, and only
        this host's records pay for protobuf's (pure Python, ~20x slower) full decode.
        """
        kvs, _ = await self._store.get_prefix(keyspace.VMS)
        now = self._clock()
        for kv in kvs:
            if not kv.key.endswith("/status") or not self._may_be_ours(kv.value):
                continue
            try:
                st = decode(state_pb2.VmStatus, kv.value, key=kv.key)
            except RecordError as e:
                log.warning("%s", e)
                continue
            if st.host == self._host:
                self._vms[st.name] = _Written(st.observed, now - self._s.status_min_interval_s,
                                              kv.mod_revision)
        self._loaded = True

    def _may_be_ours(self, value: str) -> bool:
        """False only for a readable record of another host (a bad one is decoded, and
        logged, as before)."""
        try:
            doc = json.loads(value)
        except ValueError:
            return True
        return not isinstance(doc, dict) or doc.get("host") == self._host

    async def ingest(self, report: link_pb2.Report, received_at: float) -> int:
        """Write the material changes of a validated report; returns keys written."""
        if not self._loaded:
            await self._load_existing()
        now = self._clock()
        writes: list[tuple[str, str]] = []
        seen: set[str] = set()
        vms = [self._per_vcpu(vm) for vm in report.vms]
        for vm in vms:
            seen.add(vm.name)
            prev = self._vms.get(vm.name)
            if prev is not None and not self._vm_due(prev, vm, now):
                continue
            st = state_pb2.VmStatus(
                name=vm.name, host=self._host, observed=vm, observed_at=report.observed_at
            )
            writes.append((keyspace.vm_status(vm.name), encode(st)))
        deletes = [
            (keyspace.vm_status(name), w.revision)
            for name, w in self._vms.items()
            if name not in seen
        ]
        status = self._host_status(report, vms)
        if self._status_due(status, now):
            writes.append((keyspace.host_status(self._host), encode(status)))
        if not writes and not deletes:
            return 0
        revision = await self._write(writes, deletes)
        written = {k for k, _ in writes}
        for vm in vms:
            if keyspace.vm_status(vm.name) in written:
                self._vms[vm.name] = _Written(vm, now, revision)
        for key, _ in deletes:
            self._vms.pop(key.split("/")[-2], None)
        if keyspace.host_status(self._host) in written:
            self._status, self._status_at = status, now
        self._metrics.store_writes.inc(len(writes) + len(deletes))
        self._metrics.observe_report_to_store(time.monotonic() - received_at)
        return len(writes) + len(deletes)

    async def _write(
        self, writes: list[tuple[str, str]], deletes: list[tuple[str, int]]
    ) -> int:
        revision = 0
        for i in range(0, len(writes), TXN_CHUNK):
            chunk = [(k, v, None) for k, v in writes[i : i + TXN_CHUNK]]
            rev = await self._store.txn_put_many(chunk)
            revision = rev or revision
        for key, rev in deletes:
            # Guarded: if another host has written the VM since, it moved; leave it.
            await self._store.delete(key, mod_revision=rev)
        return revision

    def _per_vcpu(self, vm: types_pb2.VmObservation) -> types_pb2.VmObservation:
        """`vm` with its locality per vCPU: as sent by an agent that measures it (it sends
        `vcpu_nodes`), recomputed from `running_cpus` for an older one."""
        if vm.vcpu_nodes:
            return vm
        memory = {nm.node: nm.bytes for nm in vm.memory_by_node}
        fixed = types_pb2.VmObservation()
        fixed.CopyFrom(vm)
        fixed.locality = locality(
            memory, vcpus_by_node(vm.running_cpus, self._topology.node_of_cpu)
        )
        return fixed

    def _host_status(
        self, report: link_pb2.Report, vms: list[types_pb2.VmObservation]
    ) -> state_pb2.HostStatus:
        status = state_pb2.HostStatus(
            node_free=list(report.node_free),
            observed_at=report.observed_at,
            report_sequence=report.sequence,
            vm_names=sorted(vm.name for vm in vms),
            mean_locality=weighted_mean_locality(
                (vm.locality, sum(nm.bytes for nm in vm.memory_by_node)) for vm in vms
            ),
        )
        if report.HasField("numa_balancing"):
            status.numa_balancing = report.numa_balancing
        return status

    def _status_due(self, new: state_pb2.HostStatus, now: float) -> bool:
        age = now - self._status_at
        if self._status is None:
            return True
        if age < self._s.status_min_interval_s:
            return False
        if age >= self._s.status_max_interval_s:
            return True
        old = self._status
        if list(old.vm_names) != list(new.vm_names):
            return True
        if old.HasField("numa_balancing") != new.HasField("numa_balancing") or (
            old.numa_balancing != new.numa_balancing
        ):
            return True
        if abs(old.mean_locality - new.mean_locality) >= self._s.material_locality:
            return True
        old_free = {nf.node: nf.free_bytes for nf in old.node_free}
        return any(
            abs(old_free.get(nf.node, 0) - nf.free_bytes) >= self._s.material_memory_bytes
            for nf in new.node_free
        )

    def _vm_due(self, prev: _Written, vm: types_pb2.VmObservation, now: float) -> bool:
        if now - prev.at < self._s.status_min_interval_s:
            return False
        old = prev.obs
        if (old.state, old.vcpus, old.memory_bytes, old.id) != (
            vm.state, vm.vcpus, vm.memory_bytes, vm.id
        ):
            return True
        if abs(old.locality - vm.locality) >= self._s.material_locality:
            return True
        if set(old.allowed_cpus) != set(vm.allowed_cpus):
            return True
        t = self._topology
        if t.nodes_of_cpus(old.running_cpus) != t.nodes_of_cpus(vm.running_cpus):
            return True
        m = self._s.material_memory_bytes
        if old.balloon.known != vm.balloon.known or (
            abs(old.balloon.actual_bytes - vm.balloon.actual_bytes) >= m
            or abs(old.balloon.target_bytes - vm.balloon.target_bytes) >= m
        ):
            return True
        old_mem = {nm.node: nm.bytes for nm in old.memory_by_node}
        new_mem = {nm.node: nm.bytes for nm in vm.memory_by_node}
        return any(
            abs(old_mem.get(n, 0) - new_mem.get(n, 0)) >= m for n in set(old_mem) | set(new_mem)
        )
