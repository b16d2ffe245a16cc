"""Moves through libvirt: a live `<numatune>` change, vCPU pinning, and libvirt's migrate API.

- **Memory.** `virDomainSetNumaParameters(numa_nodeset, VIR_DOMAIN_AFFECT_LIVE)` re-binds
  a running domain's memory; the QEMU driver then moves its pages by rewriting the
  cpuset cgroup's `cpuset.mems` (with memory_migrate), in one go at kernel speed — libvirt
  has no rate for it. So when the domain's QEMU process is visible to the agent (its pid
  file under /run/libvirt/qemu), the pages are first moved at the command's rate with
  move_pages (`linux_mover.PageMover`), and the numatune change then finds nothing left
  to move and only binds future allocations. Without the pid (a remote libvirt, the test
  driver) the numatune change alone moves the memory, unthrottled; the result says so.
- **vCPUs.** `virDomainPinVcpu` on every vCPU, each to the whole CPU set.
- **Live migration.** `virDomainMigrateToURI3` in peer-to-peer mode (the source libvirtd
  streams the guest to the target's URI), live, persistent on the target and undefined
  on the source, at the command's bandwidth (`VIR_MIGRATE_PARAM_BANDWIDTH`, MiB/s), with a
  destination XML binding memory to the target nodes when the command names them.
  libvirt's test driver has no migration: there the command fails with libvirt's own
  error, which is what the tests check.
"""

from __future__ import annotations

import threading
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from numaplane.common.units import MiB, format_size
from numaplane.hostagent.collectors.sysfs_topology import read_free_by_node, read_sysfs_topology
from numaplane.hostagent.drivers.contract import (
    LiveMigration,
    MemoryMigration,
    MoveError,
    Mover,
    Progress,
)
from numaplane.hostagent.drivers.libvirt.topology import parse_cells
from numaplane.hostagent.drivers.linux.mover import PageMover

QEMU_PID_DIR = Path("/run/libvirt/qemu")


def qemu_pid(name: str, pid_dir: Path = QEMU_PID_DIR) -> int | None:
    """The pid of a running QEMU domain as libvirt's QEMU driver records it, or None."""
    try:
        return int((pid_dir / f"{name}.pid").read_text().strip())
    except (OSError, ValueError):
        return None


class LibvirtMover(Mover):
    name = "libvirt"

    def __init__(
        self,
        connection: Any,
        *,
        pid_of: Callable[[str], int | None] = qemu_pid,
    ) -> None:
        import libvirt  # imported late: only hosts with the libvirt extra have it

        self._libvirt = libvirt
        self._conn = connection
        self._pid_of = pid_of

    @property
    def can_live_migrate(self) -> bool:
        return True

    def migrate_memory(
        self, move: MemoryMigration, progress: Progress, cancel: threading.Event
    ) -> str:
        dom = self._domain(move.vm)
        nodeset = _ids(move.to_nodes)
        if move.rebind_vcpus:
            self._pin(dom, self._cpus_of(move.to_nodes))
        pid = self._pid_of(move.vm)
        moved_note = "moved by the cpuset change, unthrottled (no QEMU pid visible here)"
        if pid is not None:
            targets = frozenset(move.to_nodes)
            mover = PageMover(pid, targets, read_sysfs_topology(), read_free_by_node())
            moved = mover.run(move.rate_bytes_per_s, progress, cancel)
            rate = move.rate_bytes_per_s / MiB
            moved_note = f"{format_size(moved)} moved at most {rate:.0f} MiB/s"
        try:
            dom.setNumaParameters(
                {self._libvirt.VIR_DOMAIN_NUMA_NODESET: nodeset},
                self._libvirt.VIR_DOMAIN_AFFECT_LIVE,
            )
        except self._libvirt.libvirtError as e:
            raise MoveError(
                f"libvirt refused numatune nodeset {nodeset} for {move.vm}: {e}"
            ) from None
        progress(1, 1, "numatune updated")
        return f"{move.vm}: memory bound to nodes {nodeset} (live numatune); {moved_note}"

    def set_vcpu_affinity(self, vm: str, cpus: tuple[int, ...]) -> str:
        count = self._pin(self._domain(vm), frozenset(cpus))
        return f"pinned {count} vCPUs of {vm} to CPUs {_ids(cpus)}"

    def live_migrate(self, move: LiveMigration, progress: Progress, cancel: threading.Event) -> str:
        if not move.target_uri:
            raise MoveError(f"live migration of {move.vm} needs the target's libvirt URI")
        lv = self._libvirt
        dom = self._domain(move.vm)
        params: dict[str, Any] = {}
        if move.rate_bytes_per_s:
            params[lv.VIR_MIGRATE_PARAM_BANDWIDTH] = max(1, int(move.rate_bytes_per_s // MiB))
        if move.target_nodes:
            xml = dom.XMLDesc(lv.VIR_DOMAIN_XML_MIGRATABLE)
            params[lv.VIR_MIGRATE_PARAM_DEST_XML] = bind_memory_xml(xml, move.target_nodes)
        flags = (
            lv.VIR_MIGRATE_LIVE
            | lv.VIR_MIGRATE_PEER2PEER
            | lv.VIR_MIGRATE_PERSIST_DEST
            | lv.VIR_MIGRATE_UNDEFINE_SOURCE
        )
        progress(0, 1, f"migrating to {move.target_uri}")
        try:
            dom.migrateToURI3(move.target_uri, params, flags)
        except lv.libvirtError as e:
            raise MoveError(
                f"libvirt could not migrate {move.vm} to {move.target_uri}: {e}"
            ) from None
        progress(1, 1, "done")
        return f"live-migrated {move.vm} to {move.target_host} ({move.target_uri})"

    # -- internals -----------------------------------------------------------------------

    def _domain(self, name: str) -> Any:
        try:
            return self._conn.lookupByName(name)
        except self._libvirt.libvirtError:
            raise MoveError(f"no libvirt domain named {name!r}") from None

    def _cpus_of(self, nodes: Iterable[int]) -> frozenset[int]:
        cells = {c.id: c for c in parse_cells(self._conn.getCapabilities())}
        missing = [n for n in nodes if n not in cells]
        if missing:
            raise MoveError(f"nodes {_ids(missing)} are not cells of this host")
        return frozenset(cpu for n in nodes for cpu in cells[n].cpus)

    def _pin(self, dom: Any, cpus: frozenset[int]) -> int:
        if not cpus:
            raise MoveError("no CPUs to pin the vCPUs to")
        width = max(self._conn.getCPUMap()[0], max(cpus) + 1)
        cpumap = tuple(cpu in cpus for cpu in range(width))
        vcpus = dom.vcpus()[0]
        try:
            for vcpu in vcpus:
                dom.pinVcpu(vcpu[0], cpumap)
        except self._libvirt.libvirtError as e:
            raise MoveError(f"libvirt refused to pin the vCPUs of {dom.name()}: {e}") from None
        return len(vcpus)


def bind_memory_xml(domain_xml: str, nodes: Iterable[int]) -> str:
    """The domain XML with `<numatune><memory mode='strict' nodeset=.../>` (replacing any)."""
    root = ET.fromstring(domain_xml)
    for old in root.findall("numatune"):
        root.remove(old)
    numatune = ET.SubElement(root, "numatune")
    ET.SubElement(numatune, "memory", {"mode": "strict", "nodeset": _ids(nodes)})
    return ET.tostring(root, encoding="unicode")


def _ids(nodes: Iterable[int]) -> str:
    return ",".join(str(n) for n in sorted(nodes))
