"""A VM whose operator named its NUMA nodes: every policy obeys, none chooses.

When `request.nodes` is set the automatic placement of the toolstacks we model steps
aside: libxl skips NUMA placement when an affinity was given ("Can't run NUMA placement,
as an (hard or soft) affinity has been specified explicitly", libxl_dom.c), and libvirt
uses a static `<numatune>` nodeset instead of asking numad. The VM is then bound to those
nodes (libvirt's default numatune mode is strict), its memory split over them in
proportion to their room.
"""

from __future__ import annotations

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.cpu_choice import cpus_of_nodes
from numaplane.controller.policy.placement.host_state import HostState
from numaplane.controller.policy.placement.memory_split import split_proportionally
from numaplane.controller.policy.types import Placement


def pinned_placement(
    host: HostState, nodes: tuple[int, ...], memory_bytes: int
) -> tuple[Placement | None, str]:
    """The placement on exactly `nodes`, or None and why it does not fit."""
    ordered = tuple(sorted(nodes))
    available = {n: host.by_id[n].available_bytes for n in ordered}
    split = split_proportionally(memory_bytes, ordered, available)
    if split is None:
        room = sum(available.values())
        return None, (
            f"requested nodes {_ids(ordered)} have {format_size(room)} free "
            f"for {format_size(memory_bytes)}"
        )
    placement = Placement(
        host=host.name,
        nodes=ordered,
        memory_by_node=split,
        cpus=cpus_of_nodes(host, ordered),
        bind_memory=True,
    )
    return placement, f"operator pinned nodes {_ids(ordered)}"


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
