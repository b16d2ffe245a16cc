"""Where vCPUs run: a least-loaded scheduler, seeded so that runs repeat.

Each vCPU goes to the allowed node whose CPUs carry the fewest vCPUs per CPU, then to
the least-loaded allowed CPU of that node (lowest id on a tie). Equally loaded nodes are
chosen between by a draw from the host's seeded generator: a NUMA-unaware scheduler
spreads a VM's vCPUs over idle nodes, which is what the no-placement baseline suffers
from, and the seed makes the spread reproducible.

vCPUs stay where they were put until their VM's affinity changes or the VM stops; the
model has no periodic load balancing (a deliberate simplification: placement decay in
the benchmarks comes from VMs arriving and leaving, not from the scheduler). A caller
that models a kernel mechanism moving one task (automatic NUMA balancing) moves a single
vCPU with `move`, which keeps the load counts right.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from numaplane.hostagent.drivers.sim.spec import SimHostSpec


class VcpuScheduler:
    def __init__(self, spec: SimHostSpec, rng: random.Random) -> None:
        self._rng = rng
        self._cpu_node = {c: n for n in spec.node_ids for c in spec.cpus_of_node(n)}
        self._node_cpus = {n: len(spec.cpus_of_node(n)) for n in spec.node_ids}
        self._cpu_load = dict.fromkeys(self._cpu_node, 0)
        self._node_load = dict.fromkeys(spec.node_ids, 0)

    def node_of(self, cpu: int) -> int:
        return self._cpu_node[cpu]

    def is_online(self, cpu: int) -> bool:
        return cpu in self._cpu_node

    def node_load(self, node: int) -> int:
        """vCPUs currently placed on the node's CPUs."""
        return self._node_load[node]

    def cpu_load(self, cpu: int) -> int:
        """vCPUs currently placed on the CPU (0: idle)."""
        return self._cpu_load[cpu]

    def place(self, vcpus: int, allowed_cpus: Iterable[int]) -> list[int]:
        """CPUs for `vcpus` new vCPUs (one entry per vCPU), counted as load from now on."""
        by_node: dict[int, list[int]] = {}
        for cpu in sorted(set(allowed_cpus)):
            if cpu in self._cpu_node:
                by_node.setdefault(self._cpu_node[cpu], []).append(cpu)
        if not by_node:
            raise ValueError("no online CPU is allowed")
        placed = []
        for _ in range(vcpus):
            ratio = {n: self._node_load[n] / self._node_cpus[n] for n in by_node}
            lowest = min(ratio.values())
            tied = sorted(n for n, r in ratio.items() if r == lowest)
            node = tied[0] if len(tied) == 1 else self._rng.choice(tied)
            cpu = min(by_node[node], key=lambda c: (self._cpu_load[c], c))
            self._cpu_load[cpu] += 1
            self._node_load[node] += 1
            placed.append(cpu)
        return placed

    def move(self, old_cpu: int, new_cpu: int) -> None:
        """One vCPU leaves `old_cpu` for `new_cpu`; the load counts follow it."""
        self.release((old_cpu,))
        self._cpu_load[new_cpu] += 1
        self._node_load[self._cpu_node[new_cpu]] += 1

    def release(self, cpus: Iterable[int]) -> None:
        for cpu in cpus:
            self._cpu_load[cpu] -= 1
            self._node_load[self._cpu_node[cpu]] -= 1
