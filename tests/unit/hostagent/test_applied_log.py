"""AppliedLog: the agent's memory of applied command ids, in memory and on disk.

The log is what makes an at-least-once wire exactly-once in effect, so these tests
pin the properties a restart depends on: what was recorded is found again by a new
instance, a crash mid-write loses only the torn line (never a later record), the file
stays bounded, and the fencing epoch survives.
"""

from __future__ import annotations

import json
from pathlib import Path

from numaplane.hostagent.commands.applied_log import AppliedLog, AppliedResult


def result(i: int, *, epoch: int = 1, ok: bool = True) -> AppliedResult:
    return AppliedResult(id=f"cmd-{i:03d}", ok=ok, message=f"done {i}", finished_at=100.0 + i,
                         epoch=epoch)


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_in_memory_log_finds_what_it_recorded() -> None:
    log = AppliedLog()
    assert log.get("cmd-001") is None
    log.record(result(1, epoch=4, ok=False))
    assert log.get("cmd-001") == result(1, epoch=4, ok=False)
    assert len(log) == 1
    assert log.max_epoch == 4


def test_results_and_epoch_survive_a_new_instance(tmp_path: Path) -> None:
    path = tmp_path / "state" / "applied.jsonl"  # the directory is created on first write
    first = AppliedLog(path)
    for i in range(3):
        first.record(result(i, epoch=7 + i))
    again = AppliedLog(path)
    assert [again.get(f"cmd-{i:03d}") for i in range(3)] == [result(i, epoch=7 + i)
                                                              for i in range(3)]
    assert again.max_epoch == 9
    assert len(lines(path)) == 3


def test_missing_file_is_an_empty_log(tmp_path: Path) -> None:
    log = AppliedLog(tmp_path / "never-written.jsonl")
    assert len(log) == 0
    assert log.max_epoch == 0


def test_torn_last_line_is_dropped_and_the_rest_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "applied.jsonl"
    log = AppliedLog(path)
    log.record(result(1))
    log.record(result(2))
    # A crash in the middle of the third write: half a JSON line, no newline.
    with path.open("a") as f:
        f.write(json.dumps(result(3).__dict__)[:25])
    reloaded = AppliedLog(path)
    assert reloaded.get("cmd-001") == result(1)
    assert reloaded.get("cmd-002") == result(2)
    assert reloaded.get("cmd-003") is None, "the torn command was not applied: run it again"


def test_a_record_after_a_torn_line_survives_the_next_restart(tmp_path: Path) -> None:
    """The write after a crash must not be glued onto the torn line (and lost with it on
    the following load): that would apply the command twice after a second restart."""
    path = tmp_path / "applied.jsonl"
    AppliedLog(path).record(result(1))
    with path.open("a") as f:
        f.write('{"id": "cmd-002", "ok": tr')
    after_crash = AppliedLog(path)
    after_crash.record(result(3))
    after_second_restart = AppliedLog(path)
    assert after_second_restart.get("cmd-001") == result(1)
    assert after_second_restart.get("cmd-003") == result(3)
    assert all(json.loads(line) for line in lines(path))


def test_capacity_bounds_memory_and_evicts_the_oldest() -> None:
    log = AppliedLog(capacity=3)
    for i in range(5):
        log.record(result(i))
    assert len(log) == 3
    assert log.get("cmd-000") is None
    assert log.get("cmd-001") is None
    assert [log.get(f"cmd-{i:03d}") is not None for i in (2, 3, 4)] == [True] * 3


def test_file_is_compacted_to_the_newest_entries(tmp_path: Path) -> None:
    path = tmp_path / "applied.jsonl"
    log = AppliedLog(path, capacity=3)
    for i in range(6):  # 2 x capacity lines: not yet compacted
        log.record(result(i, epoch=i))
    assert len(lines(path)) == 6
    log.record(result(6, epoch=6))  # one more: compacted to the newest `capacity`
    assert [json.loads(line)["id"] for line in lines(path)] == ["cmd-004", "cmd-005", "cmd-006"]
    assert not path.with_suffix(".tmp").exists()
    reloaded = AppliedLog(path, capacity=3)
    assert reloaded.get("cmd-003") is None
    assert reloaded.get("cmd-006") == result(6, epoch=6)
    assert reloaded.max_epoch == 6
    # Writing goes on after compaction, and counts lines from the compacted size.
    for i in range(7, 10):
        reloaded.record(result(i, epoch=i))
    assert len(lines(path)) == 6


def test_loading_more_lines_than_capacity_keeps_the_newest(tmp_path: Path) -> None:
    path = tmp_path / "applied.jsonl"
    big = AppliedLog(path, capacity=100)
    for i in range(10):
        big.record(result(i, epoch=i))
    small = AppliedLog(path, capacity=4)
    assert len(small) == 4
    assert small.get("cmd-005") is None
    assert small.get("cmd-009") == result(9, epoch=9)
    assert small.max_epoch == 9


def test_rerecording_an_id_moves_it_to_the_newest_end() -> None:
    log = AppliedLog(capacity=2)
    log.record(result(1))
    log.record(result(2))
    log.record(result(1))  # seen again: now the newest
    log.record(result(3))
    assert log.get("cmd-001") is not None
    assert log.get("cmd-002") is None


def test_a_last_line_missing_only_its_newline_is_kept_and_not_glued(tmp_path: Path) -> None:
    path = tmp_path / "applied.jsonl"
    path.write_text(json.dumps(result(1).__dict__))  # complete JSON, newline never written
    log = AppliedLog(path)
    assert log.get("cmd-001") == result(1)
    log.record(result(2))
    reloaded = AppliedLog(path)
    assert reloaded.get("cmd-001") == result(1)
    assert reloaded.get("cmd-002") == result(2)
