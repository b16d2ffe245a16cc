"""Each host's migration budget: a token bucket refilled at the host's bandwidth.

A pass may plan, on one host, as many bytes as the bucket holds; the bucket holds at
most one period's worth (`bandwidth x period`) and refills at the bandwidth between
passes. So over any stretch of time a host is asked to move at most its bandwidth times
that time, plus one period's worth.

A VM whose move alone is larger than a whole period's budget would otherwise never move:
such a move is allowed when the bucket is full and nothing else is planned on the host in
that pass, and it leaves the bucket in debt, which the bandwidth pays back before the
host moves anything else. The long-run rate stays the bandwidth; the burst is one move.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class MigrationBudget:
    bandwidth_bytes_per_s: float
    capacity_bytes: float
    _tokens: dict[str, float] = field(default_factory=dict)
    _refilled_at: dict[str, float] = field(default_factory=dict)
    _planned: dict[str, int] = field(default_factory=dict)
    """Bytes planned per host in the current pass."""

    def start_pass(self, hosts: list[str], now: float) -> None:
        """Refill every host's bucket for the time since the previous pass."""
        self._planned = {}
        for host in hosts:
            if host not in self._tokens:
                self._tokens[host] = self.capacity_bytes
            else:
                elapsed = max(0.0, now - self._refilled_at.get(host, now))
                self._tokens[host] = min(
                    self.capacity_bytes,
                    self._tokens[host] + elapsed * self.bandwidth_bytes_per_s,
                )
            self._refilled_at[host] = now

    def tokens(self, host: str) -> float:
        return self._tokens.get(host, self.capacity_bytes)

    def allows(self, host: str, nbytes: int) -> bool:
        if nbytes <= 0:
            return True
        tokens = self.tokens(host)
        if nbytes <= tokens:
            return True
        full = tokens >= self.capacity_bytes - 1.0
        return full and self._planned.get(host, 0) == 0

    def take(self, hosts: tuple[str, ...], nbytes: int) -> bool:
        """Charge `nbytes` to every one of `hosts` (a copy's source and target) if all of
        their budgets allow it; whether they did."""
        if not all(self.allows(h, nbytes) for h in hosts):
            return False
        for h in hosts:
            self.charge(h, nbytes)
        return True

    def charge(self, host: str, nbytes: int) -> None:
        if nbytes <= 0:
            return
        self._tokens[host] = self.tokens(host) - nbytes
        self._planned[host] = self._planned.get(host, 0) + nbytes
