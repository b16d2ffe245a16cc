"""A host's NUMA topology from libvirt's capabilities XML (`virConnectGetCapabilities`).

`<host><topology><cells>` lists each cell (NUMA node) with its memory and CPUs, and,
when the hypervisor knows them, `<distances><sibling id= value=/>`. Pure parsing, so it
is tested on XML alone; free memory comes from elsewhere (`virNodeGetCellsFreeMemory`)
and is passed in.

Where libvirt gives no distances (its test driver, some older hosts) the matrix uses
Linux's defaults, 10 local and 20 remote (LOCAL_DISTANCE / REMOTE_DISTANCE in
include/linux/topology.h), which is also what the kernel reports when firmware has no
SLIT. A host without a `<topology>` (NUMA unknown) becomes one node holding every CPU.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass

from numaplane.common.topology import LOCAL_DISTANCE, NumaNode, Topology
from numaplane.hostagent.drivers.contract import BackendError

REMOTE_DISTANCE = 20

_UNITS = {
    "b": 1, "bytes": 1, "k": 1 << 10, "kib": 1 << 10, "kb": 1000, "m": 1 << 20, "mib": 1 << 20,
    "mb": 10**6, "g": 1 << 30, "gib": 1 << 30, "gb": 10**9, "t": 1 << 40, "tib": 1 << 40,
}


def memory_bytes(element: ET.Element | None, default_unit: str = "KiB") -> int:
    """A libvirt `<memory unit=...>N</memory>` element in bytes (libvirt's default unit
    is KiB)."""
    if element is None or element.text is None:
        return 0
    unit = (element.get("unit") or default_unit).lower()
    if unit not in _UNITS:
        raise BackendError(f"unknown libvirt memory unit {unit!r}")
    return int(element.text.strip()) * _UNITS[unit]


@dataclass(frozen=True)
class Cell:
    id: int
    cpus: tuple[int, ...]
    memory_bytes: int
    distances: Mapping[int, int]
    """Sibling cell id -> distance, as libvirt gave them (may be empty)."""


def parse_cells(capabilities_xml: str) -> tuple[Cell, ...]:
    try:
        root = ET.fromstring(capabilities_xml)
    except ET.ParseError as e:
        raise BackendError(f"libvirt capabilities are not XML: {e}") from None
    cells = []
    for cell in root.findall("./host/topology/cells/cell"):
        cpus = tuple(sorted(int(c.get("id", "-1")) for c in cell.findall("./cpus/cpu")))
        distances = {
            int(s.get("id", "-1")): int(s.get("value", "0"))
            for s in cell.findall("./distances/sibling")
        }
        cells.append(
            Cell(
                id=int(cell.get("id", "-1")),
                cpus=cpus,
                memory_bytes=memory_bytes(cell.find("memory")),
                distances=distances,
            )
        )
    return tuple(sorted(cells, key=lambda c: c.id))


def topology_from_cells(
    cells: tuple[Cell, ...], free_by_node: Mapping[int, int], *, all_cpus: int = 0
) -> Topology:
    """The Topology of `cells` with `free_by_node` (clamped to each node's total)."""
    if not cells:
        cpus = tuple(range(all_cpus)) or (0,)
        total = free_by_node.get(0, 0)
        return Topology(
            nodes=(NumaNode(0, cpus, total, total),), distances=((LOCAL_DISTANCE,),)
        )
    nodes = tuple(
        NumaNode(
            id=c.id,
            cpus=c.cpus,
            memory_total_bytes=c.memory_bytes,
            memory_free_bytes=max(0, min(free_by_node.get(c.id, 0), c.memory_bytes)),
        )
        for c in cells
    )
    distances = tuple(
        tuple(
            LOCAL_DISTANCE if a.id == b.id else a.distances.get(b.id, REMOTE_DISTANCE)
            for b in cells
        )
        for a in cells
    )
    return Topology(nodes=nodes, distances=distances)
