"""Steps 2-4 of the kernel step for one scan of a VM: the hinting faults it causes, the
pages they migrate, and task_numa_fault's accounting of them.

A scan of `share` of the VM's not-yet-scanned memory (`pages.PageState.scan`) yields fault
amounts; the filter (`group.migrated`) says how much of each wants to move to the faulting
node. What a strict binding forbids is a failed migration (the allocation on a node outside
cpuset.mems fails). The rest moves through `SimHost.move_pages`, within the VM's migration
budget for the tick: when the scan's faults want more than the budget has left, only the
part of the scan the budget covers happens (the faulting vCPUs are busy copying; the
scanner resumes there next tick), and the target's room may refuse some of it (a failed
migration too). Each fault amount is then counted as task_numa_fault counts it: by the
page's node after the fault, by the faulting node, private or shared, local or remote.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from numaplane.bench.autonuma.group import GroupFaults, migrated
from numaplane.bench.autonuma.pages import Fault, PageState
from numaplane.bench.autonuma.settings import AutoNumaSettings
from numaplane.hostagent.drivers.sim import SimHost, SimVmState

PAGE_BYTES = 4096
"""Fault statistics count base pages, as task_numa_fault does (a THP fault counts 512)."""

Pair = tuple[int, int]
"""(page's node, faulting node)."""


@dataclass
class TickBudget:
    """Bytes a VM may still migrate this tick."""

    left: float


@dataclass(frozen=True)
class ScanFaults:
    part: float
    """The part of the asked scan that happened (1.0 unless the budget ran out)."""
    faults: float
    """Hinting faults taken (events of `fault_granule_bytes`, not pages)."""
    migrated: float
    """Bytes migrated."""


def hinting_faults(
    host: SimHost,
    state: SimVmState,
    pages: PageState,
    group: GroupFaults,
    share: float,
    budget: TickBudget,
    settings: AutoNumaSettings,
    rng: random.Random | None,
) -> ScanFaults:
    """The faults of a scan of `share` of the VM's not-yet-scanned memory, applied."""
    threads = vcpus_by_node(host, state)
    total = sum(threads.values())
    touched = min(1.0, state.working_set_bytes / state.resident_bytes)
    faulting = {n: touched * k / total for n, k in threads.items()}
    granule = settings.fault_granule_bytes
    faults = list(pages.scan(share, faulting, threads, granule, rng))
    wants = [migrated(group, f) for f in faults]
    bound = state.binding.nodes if state.binding.mode == "strict" else None
    movable = sum(
        w for f, w in zip(faults, wants, strict=True) if bound is None or f.cpu_node in bound
    )
    part = 1.0 if movable <= budget.left else max(0.0, budget.left) / movable
    if part < 1.0:
        faults = [f.scaled(part) for f in faults]
        wants = [w * part for w in wants]
    pages.scan_untouched(share * part, touched)
    wanted: dict[Pair, float] = {}
    for f, want in zip(faults, wants, strict=True):
        if want > 0:
            wanted[(f.node, f.cpu_node)] = wanted.get((f.node, f.cpu_node), 0.0) + want
    moved_share, failed_share = _migrate(host, state, wanted, budget)
    events = moved_total = 0.0
    for f, want in zip(faults, wants, strict=True):
        pair = (f.node, f.cpu_node)
        moved = want * moved_share.get(pair, 0.0)
        pages.apply(f, moved)
        _count(group, f, moved, want * failed_share.get(pair, 0.0))
        events += f.nbytes / granule
        moved_total += moved
    return ScanFaults(part=part, faults=events, migrated=moved_total)


def vcpus_by_node(host: SimHost, state: SimVmState) -> dict[int, int]:
    """The VM's vCPUs per node they run on."""
    out: dict[int, int] = {}
    for n in host.spec.node_ids:
        for c in host.spec.cpus_of_node(n):
            k = state.vcpu_cpus.count(c)
            if k:
                out[n] = out.get(n, 0) + k
    return out


def _migrate(
    host: SimHost, state: SimVmState, wanted: Mapping[Pair, float], budget: TickBudget
) -> tuple[dict[Pair, float], dict[Pair, float]]:
    """Move what the faults want; per pair the shares that moved and that failed."""
    done: dict[Pair, float] = {}
    failed: dict[Pair, float] = {}
    bound = state.binding.nodes if state.binding.mode == "strict" else None
    for (src, dst), want in sorted(wanted.items()):
        if bound is not None and dst not in bound:
            failed[(src, dst)] = 1.0
            continue
        ask = round(want)
        moved = host.move_pages(state.name, src, dst, ask) if ask > 0 else 0
        budget.left -= moved
        done[(src, dst)] = moved / want
        if moved < ask:  # the target had no room for the rest
            failed[(src, dst)] = (ask - moved) / want
    return done, failed


def _count(g: GroupFaults, f: Fault, moved: float, failed: float) -> None:
    """task_numa_fault's accounting of one fault amount, in pages."""
    pages, private, moved_pages = f.nbytes / PAGE_BYTES, f.private / PAGE_BYTES, moved / PAGE_BYTES
    g.pass_private += private
    g.pass_shared += pages - private
    g.pass_mem[f.cpu_node] = g.pass_mem.get(f.cpu_node, 0.0) + moved_pages
    g.pass_mem[f.node] = g.pass_mem.get(f.node, 0.0) + pages - moved_pages
    g.failed += failed / PAGE_BYTES
    if f.node == f.cpu_node:
        g.local += pages
        return
    # A shared fault on a page that ends on one of the group's active nodes, taken from
    # another, counts as local when the group is active on several nodes.
    local = 0.0
    if g.grouped and len(g.active) > 1 and g.is_active(f.cpu_node):
        shared = (pages - private) / pages if pages > 0 else 0.0
        ends_active = moved_pages + (pages - moved_pages if g.is_active(f.node) else 0.0)
        local = ends_active * shared
    g.local += local
    g.remote += pages - local
