"""A bounded record of what a policy looked at, for `numaplane explain vm`.

On a thousand-host cluster "every candidate" is thousands of lines nobody reads and a
large etcd value; what an operator needs is the best few valid candidates with their
scores, a sample of rejections with their reasons, and a count of the rest by kind
("412 hosts: no node set holds 16G"). This keeps exactly that.
"""

from __future__ import annotations

import heapq
from collections import Counter
from typing import Any

from numaplane.controller.policy.types import Candidate

KEEP_VALID = 12
"""Best valid candidates kept (the chosen one is always the first)."""
KEEP_REJECTED = 12
"""Rejections kept verbatim, in the order they were met; the rest are only counted."""


class ConsideredLog:
    def __init__(self, *, keep_valid: int = KEEP_VALID, keep_rejected: int = KEEP_REJECTED):
        self._keep_valid = keep_valid
        self._keep_rejected = keep_rejected
        self._valid: list[tuple[Any, int, str, tuple[int, ...], float | None]] = []
        self._rejected: list[Candidate] = []
        self._kinds: Counter[str] = Counter()
        self._seq = 0

    def valid(self, rank: Any, host: str, nodes: tuple[int, ...], score: float | None) -> None:
        """A valid candidate; `rank` orders them (smaller is better, then first logged).

        Stored as a plain tuple: on a large cluster every host logs one, and only the
        best few ever become `Candidate`s.
        """
        self._seq += 1
        self._valid.append((rank, self._seq, host, nodes, score))

    def rejected(self, candidate: Candidate, kind: str) -> None:
        """A rejected candidate; `kind` groups it in the summary ("not schedulable")."""
        self._kinds[kind] += 1
        if len(self._rejected) < self._keep_rejected:
            self._rejected.append(candidate)

    @property
    def valid_count(self) -> int:
        return len(self._valid)

    def candidates(self) -> tuple[Candidate, ...]:
        best = heapq.nsmallest(self._keep_valid, self._valid, key=lambda t: (t[0], t[1]))
        valid = tuple(Candidate(host=h, nodes=n, score=s) for _, _, h, n, s in best)
        return valid + tuple(self._rejected)

    def summary(self) -> tuple[str, ...]:
        """One line per kind of rejection, most frequent first."""
        return tuple(
            f"{count} candidate(s) rejected: {kind}"
            for kind, count in sorted(self._kinds.items(), key=lambda kv: (-kv[1], kv[0]))
        )
