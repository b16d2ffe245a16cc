"""Tables for people: hosts, VMs, one VM in detail, event lines.

Column names are words an operator would use; sizes are human (4G, 512M); locality
is a percentage. Scripts should use `--output json|yaml` instead (numaplane.controller.cli.shapes).
"""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Group, JustifyMethod, RenderableType
from rich.table import Table
from rich.text import Text

from numaplane.controller.cli.fmt import age, clock, cpulist, format_size, percent
from numaplane.controller.cli.shapes import host_dict, memory_by_node, vm_dict
from numaplane.v1.admin_pb2 import Event, Host, Vm

STATE_STYLES = {
    "up": "green",
    "down": "red",
    "running": "green",
    "unknown": "yellow",
    "stopped": "dim",
    "pending": "yellow",
    "starting": "cyan",
    "stopping": "cyan",
    "failed": "red",
}

EVENT_STYLES = {
    "host-up": "green",
    "host-down": "bold red",
    "host-updated": "cyan",
    "vm-appeared": "green",
    "vm-updated": "",
    "vm-gone": "red",
    "command-pending": "yellow",
    "command-sent": "yellow",
    "command-applied": "green",
    "command-failed": "bold red",
}


def state_text(state: str) -> Text:
    return Text(state or "-", style=STATE_STYLES.get(state, ""))


def hosts_table(hosts: Sequence[Host]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("NAME", "left"),
        ("STATE", "left"),
        ("NODES", "right"),
        ("CPUS", "right"),
        ("MEMORY USED/TOTAL", "right"),
        ("VMS", "right"),
        ("LOCALITY", "right"),
        ("LAST REPORT", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    for host in hosts:
        d = host_dict(host)
        offline = sum(len(n["offline_cpus"]) for n in d["nodes"])
        cpus = f"{d['cpus']}" + (f" (+{offline} off)" if offline else "")
        total = d["memory_total_bytes"]
        used = d["memory_used_bytes"]
        share = f" ({percent(used / total)})" if total else ""
        table.add_row(
            d["name"],
            state_text(d["state"]),
            str(len(d["nodes"])),
            cpus,
            f"{format_size(used)} / {format_size(total)}{share}",
            str(d["vm_count"]),
            percent(d["mean_locality"]) if d["vm_count"] else "-",
            age(host.last_report_at),
        )
    return table


def node_memory_text(vm: Vm) -> str:
    """ "0:6G 1:2G" - where the VM's memory is, by node."""
    by_node = memory_by_node(vm.observed)
    return " ".join(f"{n}:{format_size(b)}" for n, b in by_node.items() if b > 0) or "-"


def balloon_text(vm: Vm) -> str:
    balloon = vm.observed.balloon
    if not balloon.known:
        return "-"
    return f"{format_size(balloon.actual_bytes)} / {format_size(balloon.target_bytes)}"


def vms_table(vms: Sequence[Vm]) -> Table:
    table = Table(box=None, header_style="bold", pad_edge=False)
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("NAME", "left"),
        ("HOST", "left"),
        ("STATE", "left"),
        ("VCPUS", "right"),
        ("MEMORY", "right"),
        ("MEMORY BY NODE", "left"),
        ("LOCALITY", "right"),
        ("BALLOON ACTUAL/TARGET", "right"),
    )
    for column, justify in columns:
        table.add_column(column, justify=justify)
    reasons = any(vm.reason for vm in vms)
    if reasons:
        table.add_column("REASON", justify="left")
    for vm in vms:
        observed = bool(vm.observed.memory_by_node)
        row: list[RenderableType] = [
            vm.name,
            vm.host or "-",
            state_text(vm.state),
            str(vm.observed.vcpus),
            format_size(vm.observed.memory_bytes),
            node_memory_text(vm),
            percent(vm.observed.locality) if observed else "-",
            balloon_text(vm),
        ]
        table.add_row(*row, *([vm.reason or ""] if reasons else []))
    return table


def vm_detail(vm: Vm, host: Host | None) -> RenderableType:
    """One VM: where it runs, where its memory is, and how local that memory is."""
    d = vm_dict(vm)
    cpu_node = (
        {cpu: n.id for n in host.topology.nodes for cpu in n.cpus} if host is not None else {}
    )
    running_nodes = sorted({cpu_node[c] for c in d["running_cpus"] if c in cpu_node})
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="bold")
    facts.add_column()
    facts.add_row("VM", d["name"])
    host_state = f" ({host.state})" if host is not None else ""
    facts.add_row("Host", f"{d['host']}{host_state}")
    facts.add_row("State", state_text(d["state"]))
    if vm.reason:
        facts.add_row("Reason", vm.reason)
    facts.add_row("vCPUs", str(d["vcpus"]))
    facts.add_row("Memory", format_size(d["memory_bytes"]))
    facts.add_row("Nodes used", ", ".join(str(n) for n in d["nodes"]) or "-")
    facts.add_row("Locality", f"{percent(d['locality'])} ({d['locality']:.3f})")
    facts.add_row("Balloon actual/target", balloon_text(vm))
    facts.add_row("Allowed CPUs", cpulist(d["allowed_cpus"]))
    running = cpulist(d["running_cpus"])
    if running_nodes:
        running += f"  (on nodes {', '.join(str(n) for n in running_nodes)})"
    facts.add_row("Running on CPUs", running)
    facts.add_row("Observed", age(vm.observed_at))

    per_node = Table(box=None, header_style="bold", pad_edge=False, title_justify="left")
    per_node.add_column("NODE", justify="right")
    per_node.add_column("MEMORY", justify="right")
    per_node.add_column("SHARE", justify="right")
    per_node.add_column("LOCAL", justify="left")
    total = sum(memory_by_node(vm.observed).values())
    for node, size in memory_by_node(vm.observed).items():
        local = "yes" if node in running_nodes else ("no" if running_nodes else "?")
        per_node.add_row(
            str(node), format_size(size), percent(size / total) if total else "-", local
        )
    return Group(facts, Text(""), Text("Memory per NUMA node", style="bold"), per_node)


def event_line(event: Event) -> Text:
    """ "12:03:04  host-up          host h1 is up via controller c1"."""
    line = Text(f"{clock(event.at)}  ")
    line.append(f"{event.kind:<16}", style=EVENT_STYLES.get(event.kind, ""))
    line.append(f" {event.message}")
    return line
