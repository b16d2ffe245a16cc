"""What the rebalancer needs beyond the `ClusterView`: facts the view does not carry.

The controller fills it from etcd (specs, host capabilities, the journal); the benchmark
leaves it empty, where every default is the simulator's truth.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RebalanceContext:
    reservations: Mapping[str, int] = field(default_factory=dict)
    """VM -> guaranteed memory (a balloon never takes it below): what ballooning cannot
    reclaim when a host is under pressure."""
    live_migration_hosts: frozenset[str] | None = None
    """Hosts whose agents can live-migrate (both ends of a host move); None = all."""
    busy: frozenset[str] = frozenset()
    """VMs with a move already in flight: not planned again until it finishes."""

    def can_live_migrate(self, host: str) -> bool:
        return self.live_migration_hosts is None or host in self.live_migration_hosts
