"""A VM's pages as the hinting faults see them: bytes by (node the page is on, node of the
last hinting fault on it).

The kernel keeps the last faulting CPU and PID in each page (its cpupid, written by
should_numa_migrate_memory at every hinting fault, reset when a page is allocated); that
is what the two-stage filter compares a new fault with. The simulator knows bytes per
node, not pages, so a VM's memory is held here as amounts per (node, last fault node),
`None` for pages never faulted, split into the part the current pass has not scanned
yet and the part it has. The scanner walks the address space in order, once per pass;
where a page sits is unrelated to its address, so a scan takes the same share of every
not-yet-scanned amount, and a pass has seen every page once when nothing is left unscanned.

`reconcile` keeps the amounts equal to the simulator's bytes per node: memory a VM
touched since (first-touch, a balloon deflating) arrives never faulted and not yet
scanned; memory it gave back (a balloon inflating) leaves every amount of the node in
proportion; memory moved by someone else (a rebalancer's migration) is treated the same
way, as leaving one node and arriving, never faulted, on another.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

Cell = tuple[int, int | None]
"""(node the page is on, node of its last hinting fault or None)."""


@dataclass(frozen=True)
class Fault:
    """Expected hinting faults of one scan on pages of one cell from one node."""

    node: int
    """The page's node."""
    last: int | None
    """The node of the page's previous hinting fault (None: never faulted)."""
    cpu_node: int
    """The node of the faulting vCPU."""
    nbytes: float
    private: float
    """The part of `nbytes` the kernel counts as private: first faults, and faults by the
    thread that took the page's previous fault (which then came from the same node)."""

    def scaled(self, factor: float) -> Fault:
        """The faults of a scan `factor` times as long."""
        return Fault(self.node, self.last, self.cpu_node, self.nbytes * factor,
                     self.private * factor)  # fmt: skip


@dataclass
class PageState:
    unscanned: dict[Cell, float] = field(default_factory=dict)
    """Amounts the current pass has yet to scan."""
    scanned: dict[Cell, float] = field(default_factory=dict)
    """Amounts the current pass has scanned."""

    def by_node(self) -> dict[int, float]:
        out: dict[int, float] = {}
        for cells in (self.unscanned, self.scanned):
            for (node, _), b in cells.items():
                out[node] = out.get(node, 0.0) + b
        return out

    @property
    def unscanned_bytes(self) -> float:
        return sum(self.unscanned.values())

    def end_pass(self) -> None:
        """The scanner is back at the start of the address space."""
        for cell, b in self.scanned.items():
            self.unscanned[cell] = self.unscanned.get(cell, 0.0) + b
        self.scanned = {}

    def reconcile(self, memory_by_node: Mapping[int, int]) -> None:
        """Make the amounts add up to the simulator's bytes per node."""
        held = self.by_node()
        for node in set(held) | set(memory_by_node):
            want, have = float(memory_by_node.get(node, 0)), held.get(node, 0.0)
            if want > have:
                fresh: Cell = (node, None)
                self.unscanned[fresh] = self.unscanned.get(fresh, 0.0) + want - have
            elif want < have:
                keep = want / have if have > 0 else 0.0
                for cells in (self.unscanned, self.scanned):
                    for cell in [c for c in cells if c[0] == node]:
                        cells[cell] *= keep
        self.unscanned = {c: b for c, b in self.unscanned.items() if b > 0.5}
        self.scanned = {c: b for c, b in self.scanned.items() if b > 0.5}

    def scan(
        self,
        share: float,
        faulting: Mapping[int, float],
        threads: Mapping[int, int],
        granule: float,
        rng: random.Random | None,
    ) -> Iterator[Fault]:
        """The faults a scan of `share` of every not-yet-scanned amount causes.

        Each scanned byte is faulted from node i with probability faulting[i] (their sum
        is the share of the scanned memory the guest touches before the next scan); a
        fault from node i on a page last faulted from i is private with probability
        1 / threads[i]. With `rng`, how a cell's faults (`granule` bytes each) split
        between nodes and between private and shared is drawn (normal approximations of
        the multinomial and binomial counts); without, each part is its expected value.
        """
        for (node, last), b in sorted(self.unscanned.items(), key=_cell_order):
            touched = b * share * sum(faulting.values())
            if touched <= 0:
                continue
            parts = _split(touched, faulting, granule, rng)
            for cpu_node, nbytes in parts.items():
                if nbytes <= 0:
                    continue
                if last is None:
                    private = nbytes
                elif last == cpu_node:
                    private = _binomial(nbytes, 1.0 / max(1, threads[cpu_node]), granule, rng)
                else:
                    private = 0.0
                yield Fault(node, last, cpu_node, nbytes, private)

    def scan_untouched(self, share: float, touched: float) -> None:
        """The scanned pages the guest did not touch: scanned, no fault, cpupid kept."""
        if touched >= 1.0:
            return
        for cell, b in list(self.unscanned.items()):
            part = b * share * (1.0 - touched)
            self.unscanned[cell] = b - part
            self.scanned[cell] = self.scanned.get(cell, 0.0) + part

    def apply(self, fault: Fault, moved: float) -> None:
        """After `fault`: `moved` of its bytes went to the faulting node; the rest stayed.
        Either way the pages are scanned and their last fault is the faulting node."""
        src = (fault.node, fault.last)
        self.unscanned[src] = self.unscanned.get(src, 0.0) - fault.nbytes
        stay = (fault.node, fault.cpu_node)
        self.scanned[stay] = self.scanned.get(stay, 0.0) + fault.nbytes - moved
        if moved > 0:
            there = (fault.cpu_node, fault.cpu_node)
            self.scanned[there] = self.scanned.get(there, 0.0) + moved


def _cell_order(item: tuple[Cell, float]) -> tuple[int, int]:
    (node, last), _ = item
    return node, -1 if last is None else last


def _binomial(nbytes: float, p: float, granule: float, rng: random.Random | None) -> float:
    """Bytes of `nbytes` (faults of `granule` bytes) that pass a test of probability p."""
    if rng is None or p <= 0 or p >= 1:
        return nbytes * p
    n = nbytes / granule
    drawn = rng.gauss(n * p, math.sqrt(n * p * (1 - p)))
    return min(n, max(0.0, drawn)) * granule


def _split(
    nbytes: float, faulting: Mapping[int, float], granule: float, rng: random.Random | None
) -> dict[int, float]:
    """`nbytes` of faults split between nodes in proportion to `faulting` (a multinomial
    drawn as successive binomials when `rng` is given)."""
    weights = {n: p for n, p in sorted(faulting.items()) if p > 0}
    total = sum(weights.values())
    out: dict[int, float] = {}
    left, mass = nbytes, total
    for i, (node, p) in enumerate(weights.items()):
        if i == len(weights) - 1:
            out[node] = left
            break
        part = _binomial(left, p / mass, granule, rng)
        out[node] = part
        left -= part
        mass -= p
    return out
