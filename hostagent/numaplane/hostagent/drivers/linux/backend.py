"""The `linux` backend: a real host read through sysfs and /proc, no hypervisor API.

It works for any process that holds a VM's memory (QEMU/KVM, or a plain process standing
in for one), which makes it the backend of last resort and the reference for what the
others must report. Per VM:

- `id` is the pid; `name` comes from the explicit name -> pid mapping, else QEMU's `-name`,
  else "pid-<pid>" (see `vm_processes`).
- `memory_by_node` is /proc/<pid>/numa_maps, and `memory_bytes` is its total, not VmRSS:
  VmRSS leaves out hugetlbfs pages, which is where a tuned VM keeps its RAM, and using the
  same source for both keeps `sum(memory_by_node) == memory_bytes`.
- `allowed_cpus` is the union of the vCPU threads' affinity masks and `running_cpus` the
  CPU each vCPU thread last ran on (see `vcpu_threads` for which threads are vCPUs).
- `kernel_numa`, where the kernel's automatic NUMA balancing is on, is what the kernel
  says of the vCPU threads in their sched files (preferred node, local hinting faults,
  pages migrated; see `collectors.kernel_numa` for what is read and why it stays beside
  the locality, not in it); the host's mode is `HostObservation.numa_balancing`, read
  from `<proc_root>/sys/kernel/numa_balancing`.

Between reports the agent asks `sample_vcpus` where the vCPUs are: it re-reads the stat
file of each vCPU thread the last `observe` found (`vcpu_positions`), nothing else.

A process that exits while it is being read (or is a zombie) is left out of the report,
not an error. A file that exists but cannot be read (another user's process without
CAP_SYS_PTRACE) is a BackendError: silently dropping a VM would mislead the controller.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.collectors.host_files import HostFileError, ProcessGone
from numaplane.hostagent.collectors.kernel_numa import (
    balancing_on,
    read_numa_balancing,
    read_task_numa,
    vm_kernel_numa,
)
from numaplane.hostagent.collectors.numa_maps import read_numa_maps
from numaplane.hostagent.collectors.process_threads import (
    AffinitySource,
    SchedAffinity,
    StatusAffinity,
    TaskStat,
    list_thread_ids,
    read_task_stat,
)
from numaplane.hostagent.collectors.sysfs_topology import (
    DEFAULT_PROC_ROOT,
    DEFAULT_SYSFS_ROOT,
    read_free_by_node,
    read_sysfs_topology,
)
from numaplane.hostagent.collectors.vcpu_positions import VcpuThreads, read_vcpu_cpus
from numaplane.hostagent.collectors.vcpu_threads import (
    DEFAULT_VCPU_THREAD_PREFIX,
    select_vcpu_threads,
)
from numaplane.hostagent.collectors.vm_processes import VmProcess, discover_vm_processes
from numaplane.hostagent.drivers.contract import Backend, BackendCapabilities, BackendError


@dataclass(frozen=True)
class MeasuredProcess:
    """One VM process as `LinuxBackend.observe_process` read it."""

    vm: VmObservation
    vcpu_threads: VcpuThreads
    """Its vCPU threads, for sampling where they run until the next observation."""


class LinuxBackend(Backend):
    """Observes the host under `sysfs_root` and the VM processes under `proc_root`.

    VMs are the processes in `vm_pids` (name -> pid) plus, when `vm_comm_pattern` is set,
    every process whose comm fully matches it (e.g. "qemu-system-.*").
    `affinity` defaults to sched_getaffinity(2) for the real /proc and to the
    `Cpus_allowed_list` of each thread's status file for any other proc root (a test
    tree, or the host's /proc mounted into a container, whose pids are not ours).
    """

    def __init__(
        self,
        *,
        sysfs_root: Path = DEFAULT_SYSFS_ROOT,
        proc_root: Path = DEFAULT_PROC_ROOT,
        vm_pids: Mapping[str, int] | None = None,
        vm_comm_pattern: str | re.Pattern[str] | None = None,
        vcpu_thread_prefix: str = DEFAULT_VCPU_THREAD_PREFIX,
        affinity: AffinitySource | None = None,
    ) -> None:
        self._sysfs_root = sysfs_root
        self._proc_root = proc_root
        self._vm_pids = dict(vm_pids or {})
        self._comm_pattern = (
            re.compile(vm_comm_pattern) if isinstance(vm_comm_pattern, str) else vm_comm_pattern
        )
        self._vcpu_prefix = vcpu_thread_prefix
        if affinity is None:
            real_proc = proc_root == DEFAULT_PROC_ROOT
            affinity = SchedAffinity() if real_proc else StatusAffinity(proc_root)
        self._affinity = affinity
        self._vcpu_threads: dict[str, VcpuThreads] = {}
        """The last observation's vCPU threads by VM name; replaced whole, never changed
        in place (sample_vcpus reads it from another thread)."""

    def capabilities(self) -> BackendCapabilities:
        # Memory migration: move_pages(2) on the VM's process
        # (numaplane.hostagent.drivers.contract).
        return BackendCapabilities(name="linux", memory_migration=True)

    @property
    def sysfs_root(self) -> Path:
        return self._sysfs_root

    @property
    def proc_root(self) -> Path:
        return self._proc_root

    @property
    def vcpu_thread_prefix(self) -> str:
        return self._vcpu_prefix

    def pid_of(self, name: str) -> int | None:
        """The pid of the VM named `name` (as `observe` names it), or None."""
        try:
            processes = discover_vm_processes(
                self._proc_root, pids=self._vm_pids, comm_pattern=self._comm_pattern
            )
        except HostFileError as e:
            raise BackendError(f"cannot list the VM processes: {e}") from e
        return next((p.pid for p in processes if p.name == name), None)

    def topology(self) -> Topology:
        try:
            return read_sysfs_topology(self._sysfs_root, self._proc_root)
        except HostFileError as e:
            raise BackendError(f"cannot read the NUMA topology: {e}") from e

    def observe(self) -> HostObservation:
        try:
            free = read_free_by_node(self._sysfs_root, self._proc_root)
            balancing = read_numa_balancing(self._proc_root)
            processes = discover_vm_processes(
                self._proc_root, pids=self._vm_pids, comm_pattern=self._comm_pattern
            )
            measured = []
            for process in processes:
                try:
                    measured.append(
                        self.observe_process(process, kernel_numa=balancing_on(balancing))
                    )
                except ProcessGone:
                    continue
        except HostFileError as e:
            raise BackendError(f"cannot observe the host: {e}") from e
        self._vcpu_threads = {m.vm.name: m.vcpu_threads for m in measured}
        return HostObservation(
            free_by_node=free,
            vms=tuple(m.vm for m in measured),
            observed_at=time.time(),
            numa_balancing=balancing,
        )

    def numa_balancing(self) -> int | None:
        """The kernel's NUMA balancing mode under this proc root (None: not said)."""
        try:
            return read_numa_balancing(self._proc_root)
        except HostFileError as e:
            raise BackendError(f"cannot read the NUMA balancing mode: {e}") from e

    @property
    def vcpu_threads(self) -> Mapping[str, VcpuThreads]:
        """The vCPU threads the last `observe` found, by VM name."""
        return self._vcpu_threads

    def sample_vcpus(self) -> dict[str, tuple[int, ...]]:
        """Where the vCPU threads the last `observe` found are now (one stat file each)."""
        return sample_vcpu_threads(self._vcpu_threads, self._proc_root)

    def observe_process(self, process: VmProcess, *, kernel_numa: bool = False) -> MeasuredProcess:
        """One VM from its process; ProcessGone if it exited (or is a zombie) meanwhile.

        `kernel_numa`: also read the kernel's NUMA balancing statistics of its vCPU
        threads (only meaningful while balancing is on). Public because the libvirt
        backend measures a domain through its QEMU process the same way.
        """
        pid = process.pid
        threads = self._live_threads(pid)
        memory_by_node = read_numa_maps(pid, self._proc_root)
        if not memory_by_node:
            # An exiting process's numa_maps is empty: do not report it as a VM with no memory.
            self._live_threads(pid)
        vcpus = select_vcpu_threads(threads, self._vcpu_prefix)
        allowed: set[int] = set()
        running: list[int] = []
        tids: list[int] = []
        for thread in vcpus:
            try:
                allowed |= self._affinity.allowed_cpus(pid, thread.tid)
            except ProcessGone:
                continue  # this vCPU thread exited between listing and reading
            running.append(thread.last_cpu)
            tids.append(thread.tid)
        if not running:
            raise ProcessGone(f"process {pid} has no live threads left")
        kernel = (
            vm_kernel_numa(read_task_numa(pid, tid, self._proc_root) for tid in tids)
            if kernel_numa
            else None
        )
        vm = VmObservation(
            id=str(pid),
            name=process.name,
            vcpus=len(running),
            memory_bytes=sum(memory_by_node.values()),
            memory_by_node=memory_by_node,
            allowed_cpus=tuple(sorted(allowed)),
            running_cpus=tuple(running),
            kernel_numa=kernel,
        )
        return MeasuredProcess(vm=vm, vcpu_threads=VcpuThreads(pid=pid, tids=tuple(tids)))

    def _live_threads(self, pid: int) -> list[TaskStat]:
        threads = []
        for tid in list_thread_ids(pid, self._proc_root):
            try:
                stat = read_task_stat(pid, tid, self._proc_root)
            except ProcessGone:
                continue
            if not stat.exited:
                threads.append(stat)
        if not threads:
            raise ProcessGone(f"process {pid} has exited")
        return threads


def sample_vcpu_threads(
    threads: Mapping[str, VcpuThreads], proc_root: Path
) -> dict[str, tuple[int, ...]]:
    """`Backend.sample_vcpus` for backends that observe through this one (libvirt, qmp)."""
    try:
        return read_vcpu_cpus(threads, proc_root)
    except HostFileError as e:
        raise BackendError(f"cannot sample where the vCPUs run: {e}") from e
