"""`numaplane host show`: a host's NUMA topology drawn in the terminal.

Each node is a line of facts (CPUs online and offline, memory) and a memory bar
split by VM: every VM has a letter and a colour, then comes memory used by anything
else (the host, page cache, VMs not reported), then free memory. The distance
matrix follows, then the VMs with their letters. Letters keep the drawing readable
without colour (pipes, logs, `NO_COLOR`).
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from numaplane.controller.cli.fmt import age, count, cpulist, format_size, percent
from numaplane.controller.cli.membar import split_cells
from numaplane.controller.cli.shapes import host_dict, memory_by_node
from numaplane.controller.cli.tables import balloon_text, node_memory_text, state_text
from numaplane.v1.admin_pb2 import Host, Vm
from numaplane.v1.types_pb2 import NumaNode

COLOURS = (
    "red",
    "green",
    "yellow",
    "blue",
    "magenta",
    "cyan",
    "bright_red",
    "bright_green",
    "bright_yellow",
    "bright_blue",
    "bright_magenta",
    "bright_cyan",
)
LETTERS = string.ascii_uppercase + string.ascii_lowercase + string.digits
OTHER_CHAR, OTHER_STYLE = "▒", "grey50"
FREE_CHAR, FREE_STYLE = "·", "dim"
MAX_BAR_WIDTH = 64
BAR_SUFFIX_WIDTH = 32
"""Room kept right of each bar for "  1023.5G used · 1023.5G free": one width for all
nodes (bars are comparable) that fits the line without wrapping."""


@dataclass(frozen=True)
class VmKey:
    """How one VM is drawn: its letter and colour."""

    vm: Vm
    letter: str
    colour: str

    @property
    def style(self) -> str:
        return f"bold black on {self.colour}"


def vm_keys(vms: Sequence[Vm]) -> list[VmKey]:
    """A letter and a colour per VM, by name; past 62 VMs letters repeat as '*'."""
    ordered = sorted(vms, key=lambda v: v.name)
    return [
        VmKey(vm, LETTERS[i] if i < len(LETTERS) else "*", COLOURS[i % len(COLOURS)])
        for i, vm in enumerate(ordered)
    ]


def render_host(host: Host, vms: Sequence[Vm], width: int = 100) -> RenderableType:
    keys = vm_keys(vms)
    bar_width = max(10, min(MAX_BAR_WIDTH, width - 4 - BAR_SUFFIX_WIDTH))
    parts: list[RenderableType] = [_header(host), Text("")]
    for node in host.topology.nodes:
        parts.extend(_node(node, keys, bar_width))
    parts.append(_legend(keys))
    parts.extend([Text(""), Text("NUMA distances", style="bold"), distance_table(host)])
    if keys:
        parts.extend([Text(""), Text("VMs", style="bold"), _vm_table(keys)])
    return Group(*parts)


def _header(host: Host) -> RenderableType:
    d = host_dict(host)
    title = Text(host.name, style="bold")
    title.append("  ")
    title.append_text(state_text(host.state))
    backend = d["backend"] or "unknown backend"
    title.append(f"  {backend} · agent {d['agent_version'] or '?'}")
    title.append(f" · last report {age(host.last_report_at)}", style="dim")
    if d["numa_balancing"] is not None:
        title.append(f" · kernel NUMA balancing {_balancing(d['numa_balancing'])}", style="dim")
    total, used = d["memory_total_bytes"], d["memory_used_bytes"]
    summary = Text(
        f"{count(len(d['nodes']), 'NUMA node')} · {count(d['cpus'], 'CPU')} · "
        f"{format_size(used)} of {format_size(total)} memory used · {count(d['vm_count'], 'VM')}"
    )
    if d["vm_count"]:
        summary.append(f" · mean locality {percent(d['mean_locality'])}")
    return Group(title, summary)


def _balancing(mode: int) -> str:
    """/proc/sys/kernel/numa_balancing in words (2: memory tiering only, 3: both)."""
    return {0: "off", 1: "on", 2: "tiering only", 3: "on, with tiering"}.get(mode, str(mode))


def _node(node: NumaNode, keys: Sequence[VmKey], bar_width: int) -> list[RenderableType]:
    line = Text(f"node {node.id}", style="bold")
    line.append(f"  CPUs {cpulist(node.cpus)}")
    if node.offline_cpus:
        line.append(f"  offline {cpulist(node.offline_cpus)}", style="red")
    if node.memory_total_bytes == 0:
        line.append("  memoryless node (no memory)", style="dim")
        return [line, Text("")]
    line.append(f"  {format_size(node.memory_total_bytes)}")
    return [line, memory_bar(node, keys, bar_width), Text("")]


def memory_bar(node: NumaNode, keys: Sequence[VmKey], bar_width: int) -> Text:
    """`[AAAABB▒▒······]  6G used · 8G free` for one node."""
    used = node.memory_total_bytes - node.memory_free_bytes
    vm_bytes = [memory_by_node(k.vm.observed).get(node.id, 0) for k in keys]
    other = max(0, used - sum(vm_bytes))
    cells = split_cells([*vm_bytes, other, node.memory_free_bytes], bar_width)
    bar = Text("  [")
    for key, n in zip(keys, cells, strict=False):
        bar.append(key.letter * n, style=key.style)
    bar.append(OTHER_CHAR * cells[-2], style=OTHER_STYLE)
    bar.append(FREE_CHAR * cells[-1], style=FREE_STYLE)
    bar.append("]")
    bar.append(
        f"  {format_size(used)} used · {format_size(node.memory_free_bytes)} free", style="dim"
    )
    return bar


def _legend(keys: Sequence[VmKey]) -> Text:
    legend = Text("  ")
    for key in keys:
        legend.append(key.letter, style=key.style)
        legend.append(f" {key.vm.name}  ")
    legend.append(OTHER_CHAR, style=OTHER_STYLE)
    legend.append(" other used  ")
    legend.append(FREE_CHAR, style=FREE_STYLE)
    legend.append(" free")
    return legend


def distance_table(host: Host) -> Table:
    """The SLIT distance matrix with node ids on both axes (10 = local)."""
    ids = [n.id for n in host.topology.nodes]
    table = Table(box=None, header_style="bold", pad_edge=False)
    table.add_column("node", justify="right", style="bold")
    for node_id in ids:
        table.add_column(str(node_id), justify="right")
    rows = [list(r.distances) for r in host.topology.distances]
    farthest = max((d for row in rows for d in row), default=0)
    for node_id, row in zip(ids, rows, strict=False):
        cells = [
            Text(str(d), style="dim" if d <= 10 else ("red" if d == farthest else "")) for d in row
        ]
        table.add_row(str(node_id), *cells)
    return table


def _vm_table(keys: Sequence[VmKey]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("", "NAME", "STATE"):
        table.add_column(column)
    table.add_column("VCPUS", justify="right")
    table.add_column("MEMORY", justify="right")
    table.add_column("MEMORY BY NODE")
    table.add_column("LOCALITY", justify="right")
    table.add_column("BALLOON ACTUAL/TARGET", justify="right")
    for key in keys:
        vm = key.vm
        table.add_row(
            Text(key.letter, style=key.style),
            vm.name,
            state_text(vm.state),
            str(vm.observed.vcpus),
            format_size(vm.observed.memory_bytes),
            node_memory_text(vm),
            percent(vm.observed.locality),
            balloon_text(vm),
        )
    return table
