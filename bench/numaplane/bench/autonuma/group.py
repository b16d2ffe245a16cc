"""A VM's numa group: the fault statistics the kernel keeps for it, its preferred node,
and the filter that decides whether a faulting page follows the faulting vCPU.

After kernel/sched/fair.c. Every thread of a process joins one numa group
(task_numa_group: "always join threads in the same process"), so a VM's vCPUs form
one as soon as they share a page; a one-vCPU VM has none and its faults are all private.
The group counts hinting faults per node twice: by the node the page is on (`mem`,
ng->faults) and by the node of the CPU that faulted, weighted by how much the task runs
(`cpu`, ng->faults_cpu). At the end of each pass over the VM's memory
(task_numa_placement) both are halved and the pass's faults added; the preferred node
is the one with the most memory faults, counting nearby nodes' on multi-hop topologies
(preferred_group_nid, `topology`), and the group's active nodes are those with more
than a third of the busiest node's CPU faults (numa_group_count_active_nodes,
ACTIVE_NODE_FRACTION).

The page filter is should_numa_migrate_memory (reached from mm/mempolicy.c's
mpol_misplaced for memory under the default policy, MPOL_F_MORON: the target is the
faulting CPU's node):

1. early in a task's life (no preferred node yet, or numa_scan_seq <= 4) a page's first
   fault, or a private one, migrates at once;
2. the two-stage filter: the previous fault on the page (its cpupid) must have come from
   the same node as this one, else the page stays — for a page shared by vCPUs on
   several nodes, a move to node i needs two faults in a row from i, probability
   (share of faults from i)^2;
3. a private fault (the same thread faulted last time) migrates;
4. a shared fault migrates when the destination has more than three times the source's
   CPU faults, or when CPU faults per memory fault are higher at the destination by the
   3/4 hysteresis (faults_cpu(dst) x faults_mem(src) x 3 > faults_cpu(src) x
   faults_mem(dst) x 4): memory spreads like CPU use and stops there, instead of
   ping-ponging.

The thread that takes a fault is drawn in proportion to vCPUs (the performance model's
vCPUs reach all of their VM's memory alike), so a fault from node i is private with
probability 1 / (vCPUs on i) given that the previous one came from i (`pages.PageState.scan`
splits the faults so).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from numaplane.bench.autonuma.pages import Fault
from numaplane.bench.autonuma.scan_period import PassFaults, Sharing
from numaplane.bench.autonuma.topology import NumaTopology

ACTIVE_NODE_FRACTION = 3
EARLY_PASSES = 4
"""should_numa_migrate_memory: first faults migrate at once while numa_scan_seq <= 4."""


@dataclass
class GroupFaults:
    """The decayed fault statistics of one VM (its numa group, or its one task)."""

    tasks: int
    mem: dict[int, float] = field(default_factory=dict)
    cpu: dict[int, float] = field(default_factory=dict)
    private: float = 0.0
    shared: float = 0.0
    preferred: int | None = None
    active: frozenset[int] = frozenset()
    passes: int = 0
    """Passes over the memory completed (numa_scan_seq)."""
    settled: set[int] = field(default_factory=set)
    """vCPUs (by index) of a group that tried to move since the last pass: task_numa_migrate
    sets such a task's own preferred node to where it is (sched_setnuma), so it does not
    try again until its next task_numa_placement, after the next pass."""
    # This pass's faults, folded in at its end:
    pass_mem: dict[int, float] = field(default_factory=dict)
    pass_cpu: dict[int, float] = field(default_factory=dict)
    pass_private: float = 0.0
    pass_shared: float = 0.0
    local: float = 0.0
    remote: float = 0.0
    failed: float = 0.0

    @property
    def grouped(self) -> bool:
        """Whether the VM's threads form a numa group (more than one vCPU)."""
        return self.tasks > 1

    @property
    def early(self) -> bool:
        return self.preferred is None or self.passes <= EARLY_PASSES

    def sharing(self) -> Sharing | None:
        return Sharing(self.tasks, self.shared, self.private) if self.grouped else None

    def weight(self, node: int, topology: NumaTopology, dist: int) -> float:
        """group_weight in per mille: the node's score (its memory faults, and its
        neighbours' on multi-hop topologies) over all the group's memory faults."""
        total = sum(self.mem.values())
        return 1000.0 * topology.score(self.mem, node, dist) / total if total > 0 else 0.0

    def is_active(self, node: int) -> bool:
        return node in self.active

    def end_pass(self, rng: random.Random, topology: NumaTopology) -> PassFaults:
        """task_numa_placement: decay, fold this pass in, choose the preferred node
        (`NumaTopology.preferred`; `rng` is the host's seeded generator, for ties).
        Returns the pass's faults for the scan period's adaptation, and clears them.
        """
        for stats, new in ((self.mem, self.pass_mem), (self.cpu, self.pass_cpu)):
            for node in set(stats) | set(new):
                stats[node] = stats.get(node, 0.0) / 2 + new.get(node, 0.0)
        self.private = self.private / 2 + self.pass_private
        self.shared = self.shared / 2 + self.pass_shared
        preferred = topology.preferred(self.mem, self.preferred, rng)
        if preferred is not None:
            self.preferred = preferred
        busiest = max(self.cpu.values(), default=0.0)
        self.active = frozenset(
            n for n, f in self.cpu.items() if f * ACTIVE_NODE_FRACTION > busiest
        )
        faults = PassFaults(
            local=self.local,
            remote=self.remote,
            failed=self.failed,
            shared=self.pass_shared,
            private=self.pass_private,
        )
        self.settled = set()
        self.pass_mem, self.pass_cpu = {}, {}
        self.pass_private = self.pass_shared = 0.0
        self.local = self.remote = self.failed = 0.0
        self.passes += 1
        return faults

    def shared_may_move(self, src: int, dst: int) -> bool:
        """Step 4 of the filter: a shared fault's page moves from `src` to `dst`."""
        cpu_dst, cpu_src = self.cpu.get(dst, 0.0), self.cpu.get(src, 0.0)
        if cpu_dst > cpu_src * ACTIVE_NODE_FRACTION:
            return True
        return cpu_dst * self.mem.get(src, 0.0) * 3 > cpu_src * self.mem.get(dst, 0.0) * 4


def migrated(group: GroupFaults, fault: Fault) -> float:
    """Bytes of `fault` whose page the filter sends to the faulting node."""
    src, last, dst = fault.node, fault.last, fault.cpu_node
    if src == dst:
        return 0.0
    shared_ok = not group.grouped or group.shared_may_move(src, dst)
    if last is None:
        return fault.nbytes if group.early or shared_ok else 0.0
    if last != dst:
        return 0.0  # the two-stage filter
    return fault.private + (fault.nbytes - fault.private if shared_ok else 0.0)
