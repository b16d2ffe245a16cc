"""What a balloon policy returns: per host, its reading of the pressure and the new
targets, each with the sentences that explain it (`numaplane balloon show`, logs)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

HostState = Literal["steady", "pressure", "critical", "relief"]


@dataclass(frozen=True)
class BalloonDecision:
    vm: str
    host: str
    target_bytes: int
    previous_bytes: int
    """The target before this decision."""
    reasons: tuple[str, ...] = ()

    @property
    def change_bytes(self) -> int:
        """Positive: the balloon deflates (the guest gets memory); negative: inflates."""
        return self.target_bytes - self.previous_bytes


@dataclass(frozen=True)
class HostBalloonPlan:
    host: str
    state: HostState
    free_fraction: float
    """Free memory, counting balloons still on their way to their targets."""
    short_nodes: tuple[int, ...] = ()
    """Nodes under pressure of their own."""
    decisions: tuple[BalloonDecision, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def reclaimed_bytes(self) -> int:
        return -sum(d.change_bytes for d in self.decisions if d.change_bytes < 0)

    @property
    def returned_bytes(self) -> int:
        return sum(d.change_bytes for d in self.decisions if d.change_bytes > 0)
