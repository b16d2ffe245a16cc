"""Where the vCPUs ran over a report interval: samples between reports, merged into each.

A report's observation says where each vCPU thread is at the instant it is read; a vCPU
the scheduler moves between nodes, or one that spends the interval on one node and is
caught on another, would be credited wholly to wherever it happened to be. So the link's
session samples positions between reports and each report carries vCPU-time per node
(`VmObservation.vcpu_nodes`, on which the per-vCPU locality is computed):

- `VcpuSamples` is the accumulator, one per session (`AgentLink`): the sampler adds to
  it, the reporter takes it (and so empties it) for each report, on-demand ones
  included. Both run on the event loop, so it needs no lock.
- `sample_vcpus` is the sampler, a task of the session (ended with it): every
  `interval / vcpu_samples_per_report` seconds it calls `Backend.sample_vcpus` in a
  worker thread. A backend with nothing to sample (the simulator knows `vcpu_nodes`
  exactly) returns nothing; a sample that fails is skipped (the next report's
  observation says whether the backend is really in trouble).
- `VcpuSamples.merge_into` fills each VM's `vcpu_nodes` from its samples plus the
  observation's own reading (`running_cpus`), every sample weighing the same: the share
  of vCPU-samples per node, times the vCPUs the observation found there. A VM whose
  threads came and went during the interval (it started, stopped, or a thread exited)
  is counted over the samples it was seen in, so its figures always sum to the vCPUs
  measured now, and never to more than it has. A VM whose observation already carries
  `vcpu_nodes` (measured by the backend itself) keeps them; samples of a VM that is no
  longer observed are dropped. CPUs the topology does not know (gone offline) count
  nowhere.

Samples are keyed by VM name, as observations are: a VM restarted under the same name
within one interval is counted as one VM.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections import Counter
from collections.abc import Mapping, Sequence

from numaplane.common.locality import vcpus_by_node
from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.drivers.contract import Backend, BackendError

log = logging.getLogger(__name__)


class VcpuSamples:
    """vCPU positions sampled since the last report: per VM, vCPU-samples per CPU."""

    def __init__(self) -> None:
        self._cpus: dict[str, Counter[int]] = {}
        self.samples = 0
        """Samples added since the last merge (what tests and the monitor read)."""

    def add(self, sample: Mapping[str, Sequence[int]]) -> None:
        """One instant: the CPU each vCPU of each VM is on."""
        self.samples += 1
        for name, cpus in sample.items():
            self._cpus.setdefault(name, Counter()).update(cpus)

    def merge_into(self, obs: HostObservation, topology: Topology) -> HostObservation:
        """`obs` with `vcpu_nodes` from the samples since the last merge; starts afresh."""
        taken, self._cpus, self.samples = self._cpus, {}, 0
        vms = tuple(_merged(vm, taken.get(vm.name), topology) for vm in obs.vms)
        return dataclasses.replace(obs, vms=vms)


def _merged(vm: VmObservation, sampled: Counter[int] | None, topology: Topology) -> VmObservation:
    if vm.vcpu_nodes:
        return vm  # the backend measured it itself
    now = vcpus_by_node(vm.running_cpus, topology.node_of_cpu)
    measured = min(float(vm.vcpus), sum(now.values()))
    if measured <= 0:
        return vm  # nothing known of where its vCPUs are now (a stopped VM)
    counts = Counter(vm.running_cpus)
    if sampled:
        counts.update(sampled)
    per_node: dict[int, float] = {}
    for cpu, n in counts.items():
        node = topology.node_of_cpu(cpu)
        if node is not None:
            per_node[node] = per_node.get(node, 0.0) + n
    total = sum(per_node.values())
    vcpu_nodes = {node: measured * n / total for node, n in sorted(per_node.items())}
    return dataclasses.replace(vm, vcpu_nodes=vcpu_nodes)


async def sample_vcpus(backend: Backend, samples: VcpuSamples, period_s: float) -> None:
    """Forever: every `period_s`, where the vCPUs are (read in a worker thread), added to
    `samples`. Owned by the link's session."""
    failing = False
    while True:
        await asyncio.sleep(period_s)
        try:
            sample = await asyncio.to_thread(backend.sample_vcpus)
        except BackendError as e:
            if not failing:
                log.warning("cannot sample where the vCPUs run (samples skipped): %s", e)
            failing = True
            continue
        if failing:
            log.info("sampling where the vCPUs run again")
        failing = False
        samples.add(sample)
