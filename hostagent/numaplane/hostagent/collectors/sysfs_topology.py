"""The host's NUMA topology, read from sysfs the way the kernel lays it out.

What the kernel writes, and how it is read here (paths under `<sysfs>/devices/system`):

- `node/online` lists the nodes that have a `node/node<N>` directory; `possible` the nodes
  that could come online later (hotplug), which must include the online ones.
- `node/node<N>/distance` has one SLIT distance per *online* node, in ascending id order.
- `node/node<N>/cpulist` lists only the node's *online* CPUs: the kernel removes a CPU
  from its node's mask when it goes offline. The `cpu<K>` links in the node directory
  (and the `node<N>` link in `cpu/cpu<K>`) are made when the CPU is registered and stay
  while it is offline, so a node's CPUs are the union of its cpulist and those links;
  the ones not in `cpu/online` are its `offline_cpus`. An online CPU that no online node
  claims (its node is offline) appears in no node: it cannot be placed on by node anyway.
- `cpu/online` lists online CPUs; without it, each `cpu/cpu<K>/online` holds 1 or 0, and
  a CPU without that file (often CPU 0, which cannot be unplugged) is online.
- `node/node<N>/meminfo` gives MemTotal/MemFree in kB. A node missing from `has_memory`
  (a memoryless node: CPUs but no memory) has 0 bytes, whatever else is printed; a node
  whose meminfo totals 0 is memoryless too. `has_cpu` lists nodes with online CPUs; it
  adds nothing the CPU lists do not say and is only reported in `NodeStates`.
- A kernel built without NUMA has no `node` directory: the machine is node 0 with every
  CPU and the memory of `<proc>/meminfo`.

Per-node MemTotal counts the pages the node's allocator manages *now*. Kernels that
initialise struct pages lazily (`deferred_init`) report less there than /proc/meminfo
until memory has been touched; the per-node figure is what is used, since it is the one
that adds up by node.

Any file that is missing or malformed raises `HostFileError` naming it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numaplane.common.topology import NumaNode, Topology, TopologyError
from numaplane.hostagent.collectors.cpulist import CpuListError, parse_cpulist
from numaplane.hostagent.collectors.host_files import HostFileError, read_optional, read_text
from numaplane.hostagent.collectors.meminfo import kib_as_bytes, parse_meminfo

DEFAULT_SYSFS_ROOT = Path("/sys")
DEFAULT_PROC_ROOT = Path("/proc")

_NODE_ENTRY = re.compile(r"^node(\d+)$")
_CPU_ENTRY = re.compile(r"^cpu(\d+)$")


@dataclass(frozen=True)
class NodeStates:
    """The node masks in `devices/system/node` (None: the kernel does not have the file)."""

    online: frozenset[int]
    possible: frozenset[int] | None
    has_memory: frozenset[int] | None
    has_cpu: frozenset[int] | None


def read_sysfs_topology(
    sysfs_root: Path = DEFAULT_SYSFS_ROOT, proc_root: Path = DEFAULT_PROC_ROOT
) -> Topology:
    """The NUMA topology under `sysfs_root`, with free memory as of now."""
    node_dir = _node_dir(sysfs_root)
    cpu_dir = _cpu_dir(sysfs_root)
    if not node_dir.is_dir():
        return _single_node_topology(cpu_dir, proc_root)
    states = read_node_states(sysfs_root)
    node_ids = sorted(states.online)
    online_cpus = read_online_cpus(sysfs_root)
    cpus_by_node = _cpus_by_node(node_dir, cpu_dir, node_ids)
    if online_cpus is None:
        online_cpus = frozenset(c for cpus in cpus_by_node.values() for c in cpus.listed)
    nodes = []
    for nid in node_ids:
        cpus = cpus_by_node[nid].all
        total, free = _node_memory(node_dir / f"node{nid}", nid, states.has_memory)
        nodes.append(
            NumaNode(
                id=nid,
                cpus=tuple(sorted(cpus & online_cpus)),
                offline_cpus=tuple(sorted(cpus - online_cpus)),
                memory_total_bytes=total,
                memory_free_bytes=free,
            )
        )
    distances = tuple(
        _distance_row(node_dir / f"node{nid}" / "distance", node_ids) for nid in node_ids
    )
    try:
        return Topology(nodes=tuple(nodes), distances=distances)
    except TopologyError as e:
        raise HostFileError(node_dir, f"describes an impossible topology: {e}") from None


def read_free_by_node(
    sysfs_root: Path = DEFAULT_SYSFS_ROOT, proc_root: Path = DEFAULT_PROC_ROOT
) -> dict[int, int]:
    """Free bytes per node: the part of the topology that changes between reports."""
    node_dir = _node_dir(sysfs_root)
    if not node_dir.is_dir():
        path = proc_root / "meminfo"
        return {0: kib_as_bytes(parse_meminfo(read_text(path), path), "MemFree", path)}
    states = read_node_states(sysfs_root)
    return {
        nid: _node_memory(node_dir / f"node{nid}", nid, states.has_memory)[1]
        for nid in sorted(states.online)
    }


def read_node_states(sysfs_root: Path = DEFAULT_SYSFS_ROOT) -> NodeStates:
    """The node masks, checked against the node directories that exist."""
    node_dir = _node_dir(sysfs_root)
    try:
        entries = list(node_dir.iterdir())
    except OSError as e:
        raise HostFileError(node_dir, f"cannot list: {e.strerror or e}") from None
    present_dirs = frozenset(int(m.group(1)) for p in entries if (m := _NODE_ENTRY.match(p.name)))
    online = _read_list_optional(node_dir / "online")
    if online is None:
        online = present_dirs
    else:
        missing = online - present_dirs
        if missing:
            raise HostFileError(
                node_dir / "online",
                f"lists node(s) {sorted(missing)} that have no node<N> directory",
            )
    if not online:
        raise HostFileError(node_dir / "online", "no NUMA node is online")
    possible = _read_list_optional(node_dir / "possible")
    if possible is not None and not online <= possible:
        raise HostFileError(
            node_dir / "possible",
            f"does not include online node(s) {sorted(online - possible)}",
        )
    return NodeStates(
        online=online,
        possible=possible,
        has_memory=_read_list_optional(node_dir / "has_memory"),
        has_cpu=_read_list_optional(node_dir / "has_cpu"),
    )


def read_online_cpus(sysfs_root: Path = DEFAULT_SYSFS_ROOT) -> frozenset[int] | None:
    """Online CPUs from `cpu/online`, else from each `cpu<K>/online`; None if neither exists."""
    cpu_dir = _cpu_dir(sysfs_root)
    listed = _read_list_optional(cpu_dir / "online")
    if listed is not None:
        return listed
    if not cpu_dir.is_dir():
        return None
    online: set[int] = set()
    for cpu, path in _cpu_entries(cpu_dir).items():
        flag = read_optional(path / "online")
        if flag is None or flag.strip() == "1":
            online.add(cpu)
        elif flag.strip() != "0":
            raise HostFileError(path / "online", f"expected 0 or 1, got {flag.strip()!r}")
    return frozenset(online)


@dataclass(frozen=True)
class _NodeCpus:
    listed: frozenset[int]
    """From the node's cpulist: its online CPUs."""
    linked: frozenset[int]
    """From the cpu<K> <-> node<N> links: every registered CPU of the node."""

    @property
    def all(self) -> frozenset[int]:
        return self.listed | self.linked


def _cpus_by_node(node_dir: Path, cpu_dir: Path, node_ids: list[int]) -> dict[int, _NodeCpus]:
    linked: dict[int, set[int]] = {nid: set() for nid in node_ids}
    for nid in node_ids:
        linked[nid].update(_cpu_entries(node_dir / f"node{nid}"))
    if cpu_dir.is_dir():
        for cpu, path in _cpu_entries(cpu_dir).items():
            for entry in path.iterdir():
                m = _NODE_ENTRY.match(entry.name)
                if m and int(m.group(1)) in linked:
                    linked[int(m.group(1))].add(cpu)
    return {
        nid: _NodeCpus(
            listed=_read_list(node_dir / f"node{nid}" / "cpulist"),
            linked=frozenset(linked[nid]),
        )
        for nid in node_ids
    }


def _node_memory(path: Path, nid: int, has_memory: frozenset[int] | None) -> tuple[int, int]:
    """(total, free) bytes of one node; (0, 0) for a node the kernel says has no memory."""
    if has_memory is not None and nid not in has_memory:
        return 0, 0
    meminfo = path / "meminfo"
    fields = parse_meminfo(read_text(meminfo), meminfo, node=nid)
    return kib_as_bytes(fields, "MemTotal", meminfo), kib_as_bytes(fields, "MemFree", meminfo)


def _distance_row(path: Path, node_ids: list[int]) -> tuple[int, ...]:
    text = read_text(path)
    try:
        row = tuple(int(x) for x in text.split())
    except ValueError:
        raise HostFileError(path, f"distances must be integers, got {text.strip()!r}") from None
    if len(row) != len(node_ids):
        raise HostFileError(
            path,
            f"has {len(row)} distance(s), expected {len(node_ids)} "
            f"(one per online node: {node_ids})",
        )
    return row


def _single_node_topology(cpu_dir: Path, proc_root: Path) -> Topology:
    """A kernel without NUMA: node 0 holds every CPU and all of /proc/meminfo."""
    online = _read_list(cpu_dir / "online")
    present = _read_list_optional(cpu_dir / "present")
    if present is None:
        present = frozenset(_cpu_entries(cpu_dir)) | online
    meminfo = proc_root / "meminfo"
    fields = parse_meminfo(read_text(meminfo), meminfo)
    node = NumaNode(
        id=0,
        cpus=tuple(sorted(online)),
        offline_cpus=tuple(sorted(present - online)),
        memory_total_bytes=kib_as_bytes(fields, "MemTotal", meminfo),
        memory_free_bytes=kib_as_bytes(fields, "MemFree", meminfo),
    )
    try:
        return Topology(nodes=(node,), distances=((10,),))
    except TopologyError as e:
        raise HostFileError(meminfo, f"describes an impossible machine: {e}") from None


def _cpu_entries(directory: Path) -> Mapping[int, Path]:
    """The cpu<K> entries (directories or links) of a directory, by CPU number."""
    return {int(m.group(1)): p for p in directory.iterdir() if (m := _CPU_ENTRY.match(p.name))}


def _read_list(path: Path) -> frozenset[int]:
    text = read_text(path)
    try:
        return parse_cpulist(text)
    except CpuListError as e:
        raise HostFileError(path, str(e)) from None


def _read_list_optional(path: Path) -> frozenset[int] | None:
    text = read_optional(path)
    if text is None:
        return None
    try:
        return parse_cpulist(text)
    except CpuListError as e:
        raise HostFileError(path, str(e)) from None


def _node_dir(sysfs_root: Path) -> Path:
    return sysfs_root / "devices" / "system" / "node"


def _cpu_dir(sysfs_root: Path) -> Path:
    return sysfs_root / "devices" / "system" / "cpu"
