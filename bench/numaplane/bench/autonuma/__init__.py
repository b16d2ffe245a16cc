"""`autonuma`: a model of the Linux kernel's automatic NUMA balancing (`kernel.numa_balancing=1`)
acting on the simulated hosts, as a baseline rebalancer (`first-fit+autonuma`, `xen+autonuma`).

This is the mechanism that is meant to handle unpinned VMs — vCPUs free to run on every CPU,
memory placed first-touch — without any user-space manager. What it does, from the kernel's
own texts (Documentation/admin-guide/sysctl/kernel.rst, numa_balancing and
numa_balancing_scan_*; kernel/sched/fair.c; mm/mempolicy.c):

- **Scanning** (fair.c task_numa_work). Every scan period the kernel unmaps the next
  numa_balancing_scan_size_mb (256) of a process's resident pages so that the next access
  to each takes a NUMA hinting fault. The first scan comes numa_balancing_scan_delay_ms
  after the process starts; a pass over all its memory takes at least
  numa_balancing_scan_period_min_ms (1 s; more above 2.5 GiB, as the scanner never exceeds
  2560 MB/s) and at most numa_balancing_scan_period_max_ms (60 s, stretched for threads
  that share memory), and the period adapts after each pass (update_task_scan_period):
  faster while faults are remote and shared, slower once they are local or private. A QEMU
  process is one mm, so a VM is scanned as one (`scan_period`).
- **Faults** (fair.c task_numa_fault; mm/memory.c do_numa_page). Each fault records the
  page's node and the faulting CPU's node, private or shared (same thread as the page's
  previous fault, or not), local or remote, for the process's numa group — every thread of
  one process joins one (task_numa_group), so a VM's vCPUs are a group. After every pass
  the counts are halved and the pass's added (task_numa_placement); the node with the most
  memory faults is the preferred node (`group`).
- **Pages** (mm/mempolicy.c mpol_misplaced -> fair.c should_numa_migrate_memory). A faulting
  page moves to the faulting CPU's node when the two-stage filter lets it: the page's
  previous fault (its cpupid) must have come from that node too, so a page shared from
  several nodes moves with probability ~ (share of faults from that node)^2; a shared page
  then moves only toward nodes with clearly more CPU use per memory (3/4 hysteresis), so
  memory spreads like CPU use and does not ping-pong (`group.migrate_share`, `pages`).
- **Tasks** (fair.c numa_migrate_preferred -> task_numa_migrate). A thread off its group's
  preferred node moves there only to an idle CPU the load balancer would leave it on (a
  small allowed imbalance), or swaps with a thread there when both gain; a group larger than
  a node spreads over the nodes with most of its faults (`tasks`).
- **Bindings**. Automatic NUMA balancing changes no affinity mask and no memory policy: a
  thread moves only among the CPUs its mask allows, a page only to a node its cpuset allows
  (libvirt's strict numatune is cpuset.mems; a page bound elsewhere fails to migrate, which
  slows the scanner). Memory under an explicit policy without MPOL_F_MOF — MPOL_PREFERRED
  set with set_mempolicy, what libvirt's `preferred` numatune does and what the simulator's
  `preferred` binding (Xen's node-affinity) stands for — is not scanned at all
  (task_numa_work skips VMAs for which vma_policy_mof() is false): under `xen+autonuma` the
  VMs libxl placed are left alone, and only the ones it could not place are balanced.

Simplifications (the simulator has nodes and byte counts, not pages and threads): pages are
amounts per (node, node of last fault), and a scan takes the same share of every amount not
yet scanned in the pass; the vCPUs of the performance model reach all of their VM's memory
alike, so the thread that faults is drawn in proportion to vCPUs per node and the share of
private faults follows (real guests have more per-thread locality, which the kernel would see
as more private faults); fault counts are drawn from a seeded generator (normal approximations
of their binomial counts: `AutoNumaSettings.sample_faults` says why), everything else is an
expected value; page moves land at once, at most the scenario's migration bandwidth per VM per
tick; the vCPUs are the only tasks, and each tries to move once per tick (a group's once per
pass); the scan period is the VM's, not each thread's. The guest pays for the mechanism in
throughput (`step`): each hinting fault costs `fault_cost_us` of vCPU time and each migrated
byte is copied by the faulting vCPU at `copy_gbps` (`settings`), and the migrated bytes count
in the run's GiB moved like every baseline's moves.
"""

from numaplane.bench.autonuma.settings import AutoNumaSettings
from numaplane.bench.autonuma.step import AutoNuma

__all__ = ["AutoNuma", "AutoNumaSettings"]
