"""The kernel step: automatic NUMA balancing on every simulated host, one tick at a time.

For each running VM the scanner follows (see `numaplane.bench.autonuma` for which), the
tick's scanning is walked in chunks that end where a pass over the VM's memory ends:

1. from the scan delay after the VM started, the scanner marks scan_size bytes per
   window period (`scan_period`), taking the same share of every not-yet-scanned
   (node, last fault) amount of the VM's pages (`pages.PageState.scan`);
2. the share of them the guest touches (its working set over its resident memory) takes
   a hinting fault each, from the nodes its vCPUs run on in proportion to vCPUs;
3. each fault's page moves to the faulting node as the filter says (`group.migrated`),
   within the VM's strict binding if it has one; the moves go to the simulator at once
   (`SimHost.move_pages`). A VM migrates at most the scenario's migration bandwidth over
   the tick: when its faults want more, the scan stops for the tick where the budget runs
   out (the faulting vCPUs are busy copying) and resumes there at the next. A move the
   target's room refuses is a failed migration (TNF_MIGRATE_FAIL), which slows the scanner;
4. the faults are counted as task_numa_fault counts them (page node, CPU node, private
   or shared, local or remote) and, at the end of a pass, folded into the group's
   statistics, which choose the preferred node and adapt the scan period.

Steps 2-4 are `hinting.hinting_faults`.

After the scanning, every vCPU off its group's preferred node tries once to move there
(`tasks.place_tasks`). Last, each VM's **kernel time** — its faults x `fault_cost_us`
plus its migrated bytes at `copy_gbps`, over its vCPUs' time in the tick — goes to
`SimCluster.kernel_time_share`, which the metrics take off its throughput.

Deterministic under the run's seed: the draws (how faults split between nodes, ties
between equally faulted nodes) come from a generator per host seeded from the host's own
seed; with `sample_faults` off, everything but the ties is an expected value.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field

from numaplane.bench.autonuma.group import GroupFaults
from numaplane.bench.autonuma.hinting import TickBudget, hinting_faults, vcpus_by_node
from numaplane.bench.autonuma.pages import PageState
from numaplane.bench.autonuma.scan_period import (
    adapt_period,
    scan_period_max,
    scan_period_min,
    scan_period_start,
)
from numaplane.bench.autonuma.settings import AutoNumaSettings
from numaplane.bench.autonuma.tasks import place_tasks
from numaplane.bench.autonuma.topology import NumaTopology
from numaplane.bench.cluster import SimCluster
from numaplane.bench.events import Workload
from numaplane.hostagent.drivers.sim import SimHost, SimVmState


@dataclass
class VmNuma:
    """What the kernel keeps for one VM (its mm and its numa group)."""

    vm_id: str
    scan_from: float
    """Host time of the first scan (the VM's start plus the scan delay)."""
    group: GroupFaults
    pages: PageState = field(default_factory=PageState)
    period_ms: int | None = None
    """The current window period; None until the first scan (task_scan_start)."""
    faults: float = 0.0
    """Hinting faults taken this tick (events, not pages)."""
    migrated: float = 0.0
    """Bytes migrated this tick."""


class AutoNuma:
    """`kernel.numa_balancing=1` on every host of a simulated cluster."""

    name = "autonuma"

    def __init__(self, settings: AutoNumaSettings | None = None) -> None:
        self.settings = settings or AutoNumaSettings()
        self._vms: dict[tuple[str, str], VmNuma] = {}
        self._rngs: dict[str, random.Random] = {}
        self._topologies: dict[str, NumaTopology] = {}

    def state(self, host: str, vm: str) -> VmNuma | None:
        """The kernel's state of a running VM (for tests and reports)."""
        return self._vms.get((host, vm))

    def __call__(self, cluster: SimCluster, dt: float) -> None:
        """One tick of `dt` seconds on every host; sets `cluster.kernel_time_share`."""
        shares: dict[str, float] = {}
        seen: set[tuple[str, str]] = set()
        bandwidth = cluster.scenario.migration_bandwidth_bytes_per_s
        for host_name, host in cluster.hosts.items():
            groups: dict[str, GroupFaults] = {}
            for vm in host.vms():
                if vm.state != "running" or vm.binding.mode == "preferred":
                    continue  # a VMA policy without MPOL_F_MOF is never scanned
                key = (host_name, vm.name)
                seen.add(key)
                numa = self._numa(host, vm)
                workload = cluster.workloads.get(vm.name, Workload())
                self._scan(host, vm, numa, workload, dt, TickBudget(bandwidth * dt))
                groups[vm.name] = numa.group
            place_tasks(host, groups, self._topology(host))
            for vm_name in groups:
                numa = self._vms[(host_name, vm_name)]
                share = self._kernel_time(numa, host.vm(vm_name).vcpus, dt)
                if share > 0:
                    shares[vm_name] = share
                numa.faults = numa.migrated = 0.0
        for key in set(self._vms) - seen:
            del self._vms[key]
        cluster.kernel_time_share = shares

    # -- one VM --------------------------------------------------------------------------

    def _numa(self, host: SimHost, vm: SimVmState) -> VmNuma:
        key = (host.name, vm.name)
        numa = self._vms.get(key)
        if numa is None or numa.vm_id != vm.id:
            numa = VmNuma(
                vm_id=vm.id,
                scan_from=vm.started_at + self.settings.scan_delay_ms / 1000,
                group=GroupFaults(tasks=vm.vcpus),
            )
            self._vms[key] = numa
        return numa

    def _scan(
        self,
        host: SimHost,
        vm: SimVmState,
        numa: VmNuma,
        workload: Workload,
        dt: float,
        budget: TickBudget,
    ) -> None:
        """The tick's scanning of one VM, pass by pass (steps 1-4 of the module doc)."""
        s = self.settings
        left = host.now + dt - max(host.now, numa.scan_from)
        while left > 1e-9:
            state = host.vm(vm.name)
            resident = state.resident_bytes
            if resident <= 0:
                return
            numa.pages.reconcile(state.memory_by_node)
            unscanned = numa.pages.unscanned_bytes
            if unscanned <= 0.5:
                self._end_pass(host, numa, resident)
                continue
            if numa.period_ms is None:
                # The first scan comes before any fault, so before the numa group exists.
                numa.period_ms = scan_period_start(resident, s, None)
            # Threads scan when they run: an mm whose threads run less than one CPU's
            # worth between them is scanned less often (task_tick_numa counts runtime).
            running = state.vcpus * workload.cpu_utilization
            rate = s.scan_size_bytes / (numa.period_ms / 1000) * min(1.0, running)
            chunk = min(left, unscanned / rate)
            rng = self._rng(host) if s.sample_faults else None
            chunk_faults = hinting_faults(
                host, state, numa.pages, numa.group, rate * chunk / unscanned, budget, s, rng
            )
            numa.faults += chunk_faults.faults
            numa.migrated += chunk_faults.migrated
            done = chunk_faults.part
            numa.group.pass_cpu = _plus(
                numa.group.pass_cpu, _cpu_use(host, state, workload, done * rate * chunk / resident)
            )
            if done < 1.0:
                return  # the migration budget ran out: the vCPUs are busy copying
            left -= chunk

    def _end_pass(self, host: SimHost, numa: VmNuma, resident: float) -> None:
        s = self.settings
        faults = numa.group.end_pass(self._rng(host), self._topology(host))
        numa.pages.end_pass()
        sharing = numa.group.sharing()
        lowest = scan_period_min(resident, s)
        highest = scan_period_max(resident, s, sharing)
        assert numa.period_ms is not None
        numa.period_ms = adapt_period(numa.period_ms, faults, lowest, highest)

    def _kernel_time(self, numa: VmNuma, vcpus: int, dt: float) -> float:
        s = self.settings
        seconds = numa.faults * s.fault_cost_us * 1e-6 + numa.migrated / (s.copy_gbps * 1e9)
        return min(1.0, seconds / (vcpus * dt)) if vcpus and dt > 0 else 0.0

    def _topology(self, host: SimHost) -> NumaTopology:
        topology = self._topologies.get(host.name)
        if topology is None:
            topology = NumaTopology(host.spec.distances)
            self._topologies[host.name] = topology
        return topology

    def _rng(self, host: SimHost) -> random.Random:
        rng = self._rngs.get(host.name)
        if rng is None:
            rng = random.Random(zlib.crc32(f"autonuma:{host.seed}".encode()))
            self._rngs[host.name] = rng
        return rng


def _cpu_use(
    host: SimHost, state: SimVmState, workload: Workload, share: float
) -> dict[int, float]:
    """faults_cpu's weight for a scan of `share` of the memory: the VM's CPU use per node
    (task_numa_placement weighs CPU faults by each task's runtime)."""
    return {
        n: k * workload.cpu_utilization * share for n, k in vcpus_by_node(host, state).items()
    }


def _plus(a: Mapping[int, float], b: Mapping[int, float]) -> dict[int, float]:
    out = dict(a)
    for k, v in b.items():
        out[k] = out.get(k, 0.0) + v
    return out
