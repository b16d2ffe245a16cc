"""Command ids the agent has already applied, with their results.

Commands are at-least-once on the wire (re-sent after a reconnect until a result is
journaled) and must be exactly-once in effect: the agent answers a repeated id with the
stored result instead of acting again. With a state directory the log survives an
agent restart (one JSON line per result, fsynced; compacted when it grows), so a
command interrupted by a restart is not applied twice either.
"""

from __future__ import annotations

import json
import os
from collections import OrderedDict
from dataclasses import asdict, dataclass
from pathlib import Path


@dataclass(frozen=True)
class AppliedResult:
    id: str
    ok: bool
    message: str
    finished_at: float
    epoch: int


class AppliedLog:
    def __init__(self, path: Path | None = None, capacity: int = 10_000) -> None:
        self._path = path
        self._capacity = capacity
        self._results: OrderedDict[str, AppliedResult] = OrderedDict()
        self._lines = 0
        self.max_epoch = 0
        """Highest fencing epoch accepted so far; older epochs are refused."""
        if path is not None and path.exists():
            self._load(path)

    def _load(self, path: Path) -> None:
        text = path.read_text()
        torn = bool(text) and not text.endswith("\n")
        for line in text.splitlines():
            try:
                r = AppliedResult(**json.loads(line))
            except (ValueError, TypeError):
                torn = True  # a torn last line after a crash: the command was not applied
                continue
            self._remember(r)
            self._lines += 1
        if torn:
            # Rewrite the file without the torn line: the next record would otherwise be
            # appended to it and lost with it at the following load.
            self._compact()

    def _remember(self, r: AppliedResult) -> None:
        self._results[r.id] = r
        self._results.move_to_end(r.id)
        self.max_epoch = max(self.max_epoch, r.epoch)
        while len(self._results) > self._capacity:
            self._results.popitem(last=False)

    def get(self, command_id: str) -> AppliedResult | None:
        return self._results.get(command_id)

    def record(self, r: AppliedResult) -> None:
        self._remember(r)
        if self._path is None:
            return
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a") as f:
            f.write(json.dumps(asdict(r)) + "\n")
            f.flush()
            os.fsync(f.fileno())
        self._lines += 1
        if self._lines > 2 * self._capacity:
            self._compact()

    def _compact(self) -> None:
        assert self._path is not None
        tmp = self._path.with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write("".join(json.dumps(asdict(r)) + "\n" for r in self._results.values()))
            f.flush()
            os.fsync(f.fileno())  # durable before it replaces the log, or a crash loses both
        os.replace(tmp, self._path)
        self._lines = len(self._results)

    def __len__(self) -> int:
        return len(self._results)
