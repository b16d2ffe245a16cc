"""The libvirt backend: topology, domains and their NUMA settings through libvirt, and
StartVm/StopVm as define-and-start / destroy-and-undefine.

One connection per backend (`AgentSettings.libvirt_uri`, default qemu:///system), used
under a lock because the agent calls backends from worker threads. Observation reads:

* topology from the capabilities XML (`libvirt_topology`), free memory per cell from
  `virNodeGetCellsFreeMemory`;
* every domain's size, vCPU pinning and `<numatune>` from its XML (`libvirt_domain`), its
  state and current memory from `virDomainGetInfo`, where its vCPUs last ran from
  `virDomainGetVcpus` (falling back to the pins where a driver cannot say);
* every running domain's balloon through its `LibvirtBalloon` driver
  (`numaplane.hostagent.drivers.libvirt.domain_balloons`), which also carries out SetBalloon.

libvirt does not say where a domain's memory sits. When the domain's QEMU process is
visible here (libvirt's pid file `<qemu_pid_dir>/<name>.pid`, see
`libvirt_mover.qemu_pid`), its memory per node, allowed CPUs and running CPUs are
measured from /proc exactly as the linux backend measures a VM process (numa_maps, the
vCPU threads' stat and affinity, and the kernel's NUMA balancing statistics while it is
on; the host's mode is read from /proc/sys/kernel/numa_balancing), and between reports
`sample_vcpus` re-reads where those vCPU threads are, as the linux backend does — without
the libvirt connection or its lock. Only when no pid is found (a remote libvirt, the test
driver, a stale pid file) does the backend fall back to an estimate from the binding:
the current memory split evenly over the numatune nodes, or over the nodes of the
vCPUs' CPUs when unbound, with the CPUs libvirt reports; it logs that once per domain.
Free memory per node is the smaller of what libvirt reports and the node's total minus
the domains' estimated memory there: a freshly started guest has not touched its memory
yet, but it will, and counting it as used now is what keeps placement from promising it
twice.

libvirt's test driver (`test:///default`) reports cell free memory in KiB where real
drivers report bytes (its cells store KiB and return them as they are); the backend
scales it when the driver is the test driver, so tests see the same figures a host would.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from numaplane.common.topology import Topology
from numaplane.common.units import format_size
from numaplane.common.vm import HostObservation, VmObservation
from numaplane.hostagent.collectors.host_files import HostFileError, ProcessGone
from numaplane.hostagent.collectors.kernel_numa import balancing_on
from numaplane.hostagent.collectors.vcpu_positions import VcpuThreads
from numaplane.hostagent.collectors.vm_processes import VmProcess
from numaplane.hostagent.drivers.contract import (
    Backend,
    BackendCapabilities,
    BackendError,
    NoRoomError,
    VmStart,
)
from numaplane.hostagent.drivers.libvirt.domain_xml import (
    DomainNuma,
    domain_xml,
    read_domain,
    split_evenly,
)
from numaplane.hostagent.drivers.libvirt.mover import QEMU_PID_DIR, qemu_pid
from numaplane.hostagent.drivers.libvirt.topology import parse_cells, topology_from_cells
from numaplane.hostagent.drivers.linux.backend import (
    LinuxBackend,
    MeasuredProcess,
    sample_vcpu_threads,
)

if TYPE_CHECKING:
    from numaplane.hostagent.drivers.libvirt.balloon import LibvirtBalloon

DEFAULT_URI = "qemu:///system"

log = logging.getLogger(__name__)


def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError as e:  # pragma: no cover - depends on the install
        raise BackendError(
            "the libvirt backend needs libvirt-python (pip install 'numaplane[libvirt]')"
        ) from e
    return libvirt


class LibvirtBackend(Backend):
    """A host seen and driven through one libvirt connection."""

    def __init__(
        self,
        uri: str = DEFAULT_URI,
        *,
        balloon_stats_period_s: int = 5,
        qemu_pid_dir: Path = QEMU_PID_DIR,
    ) -> None:
        self._libvirt = _libvirt()
        self.uri = uri
        # Measuring a domain's QEMU process: its pid file, then the linux backend's reading.
        self._qemu_pid_dir = qemu_pid_dir
        self._proc = LinuxBackend()
        self._estimated: set[str] = set()  # domains already logged as estimated
        # The measured domains' vCPU threads, for sample_vcpus; replaced whole per observe.
        self._vcpu_threads: Mapping[str, VcpuThreads] = {}
        self._lock = threading.Lock()
        # libvirt prints every error on stderr by default, including the "domain not
        # found" of a lookup that is expected to miss; this backend reports errors itself.
        self._libvirt.registerErrorHandler(_ignore_error, None)
        try:
            self._conn = self._libvirt.open(uri)
        except self._libvirt.libvirtError as e:
            raise BackendError(f"cannot connect to libvirt at {uri}: {e}") from None
        caps = self._conn.getCapabilities()
        self._cells = parse_cells(caps)
        self._domain_type, self._arch = _guest_type(caps)
        self._free_in_kib = self._conn.getType().upper() == "TEST"
        # Balloons (numaplane.hostagent.drivers.contract): one driver per running domain, same
        # connection.
        from numaplane.hostagent.drivers.libvirt.domain_balloons import LibvirtBalloons

        self._balloons = LibvirtBalloons(self._conn, stats_period_s=balloon_stats_period_s)

    @property
    def connection(self) -> Any:
        """The libvirt connection (for code that reads libvirt directly: tests, drivers)."""
        return self._conn

    # -- Backend ---------------------------------------------------------------------

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(name="libvirt", balloon=True)

    def topology(self) -> Topology:
        with self._lock:
            return self._topology(self._domains())

    def observe(self) -> HostObservation:
        balancing = self._proc.numa_balancing()
        with self._lock:
            domains = self._domains()
            topology = self._topology(domains)
            threads: dict[str, VcpuThreads] = {}
            vms = tuple(
                self._observation(dom, d, info, threads, kernel_numa=balancing_on(balancing))
                for dom, d, info in domains
            )
            self._vcpu_threads = threads
            return self._balloons.fill(HostObservation(
                free_by_node={n.id: n.memory_free_bytes for n in topology.nodes},
                vms=vms,
                observed_at=time.time(),
                numa_balancing=balancing,
            ))

    def sample_vcpus(self) -> dict[str, tuple[int, ...]]:
        """Where the measured domains' vCPU threads are now (/proc only: no libvirt call)."""
        return sample_vcpu_threads(self._vcpu_threads, self._proc.proc_root)

    def balloon(self, vm: str) -> LibvirtBalloon | None:
        return self._balloons.driver(vm)

    def close(self) -> None:
        with self._lock, contextlib.suppress(self._libvirt.libvirtError):
            self._conn.close()

    # -- VmLifecycle -----------------------------------------------------------------

    def start_vm(self, start: VmStart) -> str:
        with self._lock:
            existing = self._lookup(start.name)
            if existing is not None:
                if existing.isActive():
                    return f"{start.name} already runs"
                existing.undefine()  # an inactive leftover of the same name: define afresh
            self._check_room(start)
            xml = domain_xml(start, domain_type=self._domain_type, arch=self._arch)
            try:
                dom = self._conn.defineXML(xml)
            except self._libvirt.libvirtError as e:
                raise BackendError(f"libvirt refused the domain of {start.name}: {e}") from None
            try:
                dom.create()
            except self._libvirt.libvirtError as e:
                dom.undefine()
                raise BackendError(f"libvirt could not start {start.name}: {e}") from None
            nodes = ",".join(map(str, start.nodes)) or "any"
            return (
                f"started {start.name} ({start.vcpus} vCPUs, {format_size(start.memory_bytes)}, "
                f"memory on nodes {nodes}) as libvirt domain {dom.UUIDString()}"
            )

    def stop_vm(self, name: str) -> str:
        with self._lock:
            dom = self._lookup(name)
            if dom is None:
                return f"{name} is not defined (nothing to stop)"
            try:
                if dom.isActive():
                    dom.destroy()
                dom.undefine()
            except self._libvirt.libvirtError as e:
                raise BackendError(f"libvirt could not stop {name}: {e}") from None
            return f"destroyed and undefined {name}"

    # -- internals -------------------------------------------------------------------

    def _lookup(self, name: str) -> Any:
        try:
            return self._conn.lookupByName(name)
        except self._libvirt.libvirtError:
            return None

    def _domains(self) -> list[tuple[Any, DomainNuma, list[int]]]:
        out = []
        for dom in self._conn.listAllDomains():
            try:
                out.append((dom, read_domain(dom.XMLDesc()), dom.info()))
            except self._libvirt.libvirtError:
                continue  # undefined between the listing and the read
        return out

    def _topology(self, domains: list[tuple[Any, DomainNuma, list[int]]]) -> Topology:
        reported = self._reported_free()
        estimated: dict[int, int] = {}
        for _, d, info in domains:
            if _active(info):
                for node, b in self._memory_by_node(d, info).items():
                    estimated[node] = estimated.get(node, 0) + b
        free = {
            c.id: min(reported.get(c.id, c.memory_bytes), c.memory_bytes - estimated.get(c.id, 0))
            for c in self._cells
        }
        return topology_from_cells(self._cells, free, all_cpus=self._conn.getInfo()[2])

    def _reported_free(self) -> dict[int, int]:
        scale = 1024 if self._free_in_kib else 1
        free: dict[int, int] = {}
        for c in self._cells:
            try:
                [value] = self._conn.getCellsFreeMemory(c.id, 1)
            except self._libvirt.libvirtError:
                continue
            free[c.id] = int(value) * scale
        return free

    def _memory_by_node(self, d: DomainNuma, info: list[int]) -> dict[int, int]:
        current = int(info[2]) * 1024
        nodes = d.memory_nodes or tuple(
            c.id for c in self._cells if set(c.cpus) & set(d.allowed_cpus)
        ) or tuple(c.id for c in self._cells)
        if d.memory_mode == "preferred" and d.memory_nodes:
            nodes = d.memory_nodes[:1]
        return split_evenly(current, nodes)

    def _check_room(self, start: VmStart) -> None:
        known = {c.id for c in self._cells}
        unknown = [n for n in start.nodes if n not in known]
        if unknown:
            raise BackendError(f"{start.name}: nodes {unknown} are not NUMA cells of this host")
        if not start.nodes or not start.strict_memory:
            return
        free = {n.id: n.memory_free_bytes for n in self._topology(self._domains()).nodes}
        room = sum(free.get(n, 0) for n in start.nodes)
        if room < start.boot_bytes:
            raise NoRoomError(
                f"no room: nodes {','.join(map(str, start.nodes))} have {format_size(room)} "
                f"free for {format_size(start.boot_bytes)}"
            )

    def _observation(
        self,
        dom: Any,
        d: DomainNuma,
        info: list[int],
        threads: dict[str, VcpuThreads],
        *,
        kernel_numa: bool,
    ) -> VmObservation:
        """One domain; a measured one's vCPU threads are added to `threads`."""
        active = _active(info)
        measured = self._measured(d.name, kernel_numa=kernel_numa) if active else None
        running: tuple[int, ...] = ()
        kernel = None
        if measured is not None:
            threads[d.name] = measured.vcpu_threads
            memory_by_node = measured.vm.memory_by_node
            allowed, running = measured.vm.allowed_cpus, measured.vm.running_cpus
            kernel = measured.vm.kernel_numa
        else:
            memory_by_node = self._memory_by_node(d, info) if active else {}
            allowed = d.allowed_cpus or tuple(c for cell in self._cells for c in cell.cpus)
            if active:
                try:
                    running = tuple(int(v[3]) for v in dom.vcpus()[0])
                except self._libvirt.libvirtError:
                    running = tuple(pin[0] for pin in d.vcpu_pins if pin)
        return VmObservation(
            id=d.uuid,
            name=d.name,
            vcpus=d.vcpus,
            memory_bytes=d.memory_bytes,
            memory_by_node=memory_by_node,
            allowed_cpus=allowed,
            running_cpus=running,
            state="running" if active else "shutoff",
            kernel_numa=kernel,
        )

    def _measured(self, name: str, *, kernel_numa: bool) -> MeasuredProcess | None:
        """The domain's QEMU process read from /proc as the linux backend reads a VM.

        None when no pid file names a live process (the caller then estimates from the
        binding; logged once per domain). A process that cannot be read is a BackendError,
        as in the linux backend.
        """
        pid = qemu_pid(name, self._qemu_pid_dir)
        if pid is not None:
            try:
                return self._proc.observe_process(
                    VmProcess(name=name, pid=pid), kernel_numa=kernel_numa
                )
            except ProcessGone:
                pass  # a stale pid file
            except HostFileError as e:
                raise BackendError(f"cannot read the QEMU process of {name}: {e}") from e
        if name not in self._estimated:
            self._estimated.add(name)
            log.info(
                "%s: no QEMU pid under %s; its memory per node and CPUs are estimated "
                "from its binding", name, self._qemu_pid_dir,
            )
        return None


def _ignore_error(_ctx: object, _error: object) -> None:
    """libvirt's error callback: errors arrive as exceptions anyway."""


def _active(info: list[int]) -> bool:
    """virDomainGetInfo's state: 1 running, 2 blocked, 3 paused all hold memory."""
    return int(info[0]) in (1, 2, 3)


def _guest_type(capabilities_xml: str) -> tuple[str, str]:
    """(domain type, arch) to define domains with: kvm when offered, else the first."""
    root = ET.fromstring(capabilities_xml)
    found: list[tuple[str, str]] = []
    for guest in root.findall("guest"):
        if guest.findtext("os_type", "").strip() != "hvm":
            continue
        arch = guest.find("arch")
        if arch is None:
            continue
        for domain in arch.findall("domain"):
            found.append((domain.get("type", ""), arch.get("name", "")))
    for kind, arch_name in found:
        if kind == "kvm":
            return kind, arch_name
    if not found:
        raise BackendError("libvirt offers no hvm guest type to define domains with")
    return found[0]


__all__ = ["DEFAULT_URI", "LibvirtBackend"]
