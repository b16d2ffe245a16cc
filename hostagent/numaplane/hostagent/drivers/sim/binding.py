"""A VM's memory policy, after Linux's mempolicy modes.

- none: first-touch — a page lands on the node of the CPU that touches it.
- strict (MPOL_BIND): pages land only on the bound nodes, the one nearest the touching
  CPU first; the VM never gets memory elsewhere.
- preferred (MPOL_PREFERRED / PREFERRED_MANY): pages land on the preferred nodes while
  they have room, then spill to the nearest other node.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

BindingMode = Literal["none", "strict", "preferred"]


@dataclass(frozen=True)
class MemoryBinding:
    mode: BindingMode = "none"
    nodes: frozenset[int] = frozenset()

    def __post_init__(self) -> None:
        if self.mode == "none" and self.nodes:
            raise ValueError("an unbound VM names no nodes")
        if self.mode != "none" and not self.nodes:
            raise ValueError(f"a {self.mode} binding needs at least one node")

    @classmethod
    def none(cls) -> MemoryBinding:
        return cls()

    @classmethod
    def strict(cls, nodes: Iterable[int]) -> MemoryBinding:
        return cls("strict", frozenset(nodes))

    @classmethod
    def preferred(cls, nodes: Iterable[int]) -> MemoryBinding:
        return cls("preferred", frozenset(nodes))

    @property
    def bound_nodes(self) -> tuple[int, ...] | None:
        """The nodes named by the binding, sorted; None when unbound."""
        return tuple(sorted(self.nodes)) if self.mode != "none" else None
