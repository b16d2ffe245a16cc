"""What an agent observes about a VM and a host, as plain immutable data.

These are the agent's words about the world; the controller turns them into
protobuf on the wire and JSON in etcd, and its policies read them back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from numaplane.common.locality import locality, vcpus_by_node
from numaplane.common.topology import Topology


@dataclass(frozen=True)
class BalloonCapabilities:
    """What a VM's balloon can do beyond moving to a target (all False: a bare balloon)."""

    guest_stats: bool = False
    """The guest reports its own memory figures through the balloon (virtio stats queue)."""
    deflate_on_oom: bool = False
    """The guest deflates the balloon itself rather than run out of memory."""
    free_page_reporting: bool = False
    """The guest hands free pages back to the host on its own, without a target."""


@dataclass(frozen=True)
class GuestMemoryStats:
    """The guest's own view of its memory, as its balloon driver reports it.

    Names follow libvirt's memory statistics, which every driver maps onto, so that one
    policy reads one vocabulary. None: the guest does not report that figure.
    """

    free_bytes: int | None = None
    """Memory the guest leaves unused (its MemFree; libvirt "unused")."""
    available_bytes: int | None = None
    """Memory the guest sees as its total (its MemTotal; libvirt "available")."""
    usable_bytes: int | None = None
    """Memory the guest could give up without swapping (its MemAvailable; libvirt "usable")."""
    swap_in_bytes: int | None = None
    """Bytes read back from the guest's swap since it booted."""
    swap_out_bytes: int | None = None
    """Bytes written out to the guest's swap since it booted."""


@dataclass(frozen=True)
class BalloonState:
    """One VM's balloon as its driver last read it, whatever the hypervisor."""

    target_bytes: int
    """Memory the guest is asked to have (the driver's last target; the current size until
    it sets one)."""
    actual_bytes: int
    """Memory the guest has now: its maximum minus what the balloon holds."""
    driver: str = ""
    """libvirt | qmp | sim ("" from code that predates drivers)."""
    capabilities: BalloonCapabilities = BalloonCapabilities()
    guest: GuestMemoryStats | None = None
    """None when the guest reports no statistics (no driver loaded, stats off)."""
    max_bytes: int = 0
    """The VM's maximum memory: the size with the balloon fully deflated (0: unknown)."""
    updated_at: float = 0.0
    """When the driver read the balloon (seconds since the epoch; 0: unknown)."""


@dataclass(frozen=True)
class KernelNumaStats:
    """The kernel's automatic NUMA balancing as it sees one VM's vCPU threads.

    Extra information from Linux hosts where `kernel.numa_balancing` is on (the agent
    reads each vCPU thread's /proc/<pid>/task/<tid>/sched); the VM's locality stays
    numaplane's own measure. The fault counts are the kernel's NUMA hinting faults, which
    it halves at every scan: they describe the last few scan periods.
    """

    preferred_node: int | None = None
    """The node the kernel prefers for most of the vCPU threads (`numa_preferred_nid`);
    None before it has chosen one."""
    faults: int = 0
    """The vCPU threads' recent NUMA hinting faults."""
    local_faults: int = 0
    """Of `faults`, those on memory of the node where the faulting thread runs now."""
    pages_migrated: int = 0
    """Pages the kernel migrated on these threads' faults since they started."""

    @property
    def fault_locality(self) -> float | None:
        """The share of recent faults on local memory: the kernel's access-weighted
        locality (hot memory counts, idle memory not at all); None without faults."""
        return self.local_faults / self.faults if self.faults > 0 else None


@dataclass(frozen=True)
class VmObservation:
    id: str
    """Stable on its host (libvirt uuid, pid, sim id)."""
    name: str
    """Cluster-wide name."""
    vcpus: int
    memory_bytes: int
    memory_by_node: Mapping[int, int]
    allowed_cpus: tuple[int, ...]
    """Union of the vCPUs' affinity masks."""
    running_cpus: tuple[int, ...]
    """The CPU each vCPU last ran on, one entry per vCPU."""
    balloon: BalloonState | None = None
    state: str = "running"
    vcpu_nodes: Mapping[int, float] = field(default_factory=dict)
    """Where the vCPUs ran over the report interval: vCPU-time per node, in vCPUs (it sums
    to the vCPUs measured). Empty when only the last CPU of each vCPU is known
    (`running_cpus`): an older agent, or a backend that samples nothing between reports."""
    kernel_numa: KernelNumaStats | None = None
    """What the kernel's automatic NUMA balancing says of the VM; None where it is off or
    the host cannot say."""

    def vcpus_by_node(self, topology: Topology) -> dict[int, float]:
        """vCPU-time per node: the interval's samples when there are any, else one count
        per vCPU on the node of the CPU it last ran on."""
        if self.vcpu_nodes:
            return dict(self.vcpu_nodes)
        return vcpus_by_node(self.running_cpus, topology.node_of_cpu)

    def locality(self, topology: Topology) -> float:
        """Per-vCPU locality (`numaplane.common.locality`)."""
        return locality(self.memory_by_node, self.vcpus_by_node(topology))


@dataclass(frozen=True)
class HostObservation:
    """One report's worth of a host: free memory per node and every VM."""

    free_by_node: Mapping[int, int]
    vms: tuple[VmObservation, ...] = ()
    observed_at: float = 0.0
    extra: Mapping[str, str] = field(default_factory=dict)
    numa_balancing: int | None = None
    """The kernel's automatic NUMA balancing (`/proc/sys/kernel/numa_balancing`: 0 off,
    1 on, 2 memory tiering, 3 both); None where the host does not say (the simulator)."""
