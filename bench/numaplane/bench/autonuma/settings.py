"""The knobs of the automatic NUMA balancing model: the kernel's sysctls at their defaults,
and the two costs the kernel has no sysctl for.

Sources: Documentation/admin-guide/sysctl/kernel.rst (numa_balancing_*) for what each
sysctl means, kernel/sched/fair.c for the defaults (`sysctl_numa_balancing_scan_*`).
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.common.units import MiB


@dataclass(frozen=True)
class AutoNumaSettings:
    scan_delay_ms: int = 1000
    """numa_balancing_scan_delay_ms: the "scan delay" a task starts with — its address
    space is first scanned this long after it starts (kernel.rst; fair.c default 1000,
    `mm->numa_next_scan` set by init_numa_balancing)."""
    scan_period_min_ms: int = 1000
    """numa_balancing_scan_period_min_ms: the shortest time to scan a task's whole address
    space, so its highest scan rate (kernel.rst; fair.c default 1000). Divided by the
    number of scan windows the memory holds (task_scan_min)."""
    scan_period_max_ms: int = 60000
    """numa_balancing_scan_period_max_ms: the longest time to scan a task's whole address
    space, so its lowest scan rate (kernel.rst; fair.c default 60000). Divided by the
    number of windows, and stretched for tasks sharing memory in a numa group
    (task_scan_max)."""
    scan_size_mb: int = 256
    """numa_balancing_scan_size_mb: megabytes of (resident) pages one scan window marks
    for hinting faults (kernel.rst; fair.c default 256; task_numa_work)."""
    fault_granule_bytes: int = 2 * MiB
    """Memory one hinting fault covers. QEMU asks for transparent huge pages on guest RAM
    (madvise MADV_HUGEPAGE) and KVM maps it with 2 MiB EPT entries, so a guest access to
    a scanned region takes one fault per 2 MiB (do_huge_pmd_numa_page, task_numa_fault
    with HPAGE_PMD_NR pages). 4096 models a host without THP: 512 times the faults."""
    fault_cost_us: float = 3.0
    """vCPU time one hinting fault costs the guest, microseconds: the EPT-violation exit
    and re-entry (about 1 us on current x86), the host fault path that finds the PROT_NONE
    entry (do_numa_page / do_huge_pmd_numa_page, about 1 us) and its share of the scan
    that set it up (change_prot_numa and the EPT invalidation). An estimate, not a
    measurement: the kernel has no such figure (task_numa_work only caps its own
    scanning at about 3 % of the task's runtime)."""
    copy_gbps: float = 5.0
    """How fast the faulting vCPU copies a page it migrates, GB/s: the kernel migrates a
    misplaced page synchronously in the fault (migrate_misplaced_page in do_numa_page),
    so the copy is the guest's time. A copy reads and writes every byte: half of the
    performance model's one-core bandwidth (`ModelParams.vcpu_bandwidth_gbps`, 10)."""

    sample_faults: bool = True
    """Draw how each scan's hinting faults split between the VM's nodes and between
    private and shared (normal approximations of the counts, from the host's seeded
    generator), as a kernel's faults are samples. With expected values alone a VM split
    evenly over two nodes, or two VMs that mirror each other, stay balanced for ever:
    no page moves on balance and no swap gains anything. A real kernel's noisy counts tip
    such a state toward one node within a few passes, and the feedback between where
    tasks run and where pages go does the rest. False gives expected values (the worked
    examples use it for exact arithmetic)."""

    @property
    def scan_size_bytes(self) -> int:
        return self.scan_size_mb * MiB
