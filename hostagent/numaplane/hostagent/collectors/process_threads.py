"""The threads of a process: where each last ran and where it may run.

The last CPU comes from /proc/<pid>/task/<tid>/stat, field 39 ("processor"). The second
field is the thread's name in parentheses and may itself hold spaces and parentheses
("CPU 0/KVM", "a) (b"), so the line is split at its *last* ')'.

The allowed CPUs come from an `AffinitySource`, because `os.sched_getaffinity` asks the
running kernel and so only describes the real /proc; `StatusAffinity` reads the same
mask from `Cpus_allowed_list` in the thread's status file and works for any proc root,
real or a test fixture.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from numaplane.hostagent.collectors.cpulist import CpuListError, parse_cpulist
from numaplane.hostagent.collectors.host_files import HostFileError, ProcessGone, read_process_file

_PROCESSOR_FIELD = 39
"""1-based position of "processor" in /proc/<pid>/stat (see proc(5))."""
_FIRST_FIELD_AFTER_COMM = 3
_DIGITS = re.compile(r"^\d+$")


@dataclass(frozen=True)
class TaskStat:
    """The parts of a stat line the agent uses."""

    tid: int
    comm: str
    state: str
    """One letter: R running, S sleeping, Z zombie, X dead, ..."""
    last_cpu: int

    @property
    def exited(self) -> bool:
        """A zombie or dead task: it has no memory and no CPU left to report."""
        return self.state in ("Z", "X", "x")


def parse_task_stat(text: str) -> TaskStat:
    """Parse one /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat line; ValueError if malformed."""
    open_paren = text.find("(")
    close_paren = text.rfind(")")
    if open_paren < 0 or close_paren < open_paren:
        raise ValueError(f"no '(comm)' in stat line {text[:80]!r}")
    tid_text = text[:open_paren].strip()
    if not _DIGITS.match(tid_text):
        raise ValueError(f"stat line does not start with a thread id: {text[:80]!r}")
    rest = text[close_paren + 1 :].split()
    index = _PROCESSOR_FIELD - _FIRST_FIELD_AFTER_COMM
    if len(rest) <= index:
        raise ValueError(
            f"stat line has {len(rest) + _FIRST_FIELD_AFTER_COMM - 1} fields, "
            f"need at least {_PROCESSOR_FIELD}"
        )
    try:
        last_cpu = int(rest[index])
    except ValueError:
        raise ValueError(f"stat field {_PROCESSOR_FIELD} is not a CPU: {rest[index]!r}") from None
    return TaskStat(
        tid=int(tid_text),
        comm=text[open_paren + 1 : close_paren],
        state=rest[0],
        last_cpu=last_cpu,
    )


def list_thread_ids(pid: int, proc_root: Path) -> list[int]:
    """Thread ids of `pid`, ascending; ProcessGone if the process no longer exists."""
    task_dir = proc_root / str(pid) / "task"
    try:
        return sorted(int(p.name) for p in task_dir.iterdir() if _DIGITS.match(p.name))
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(str(task_dir)) from None
    except OSError as e:
        raise HostFileError(task_dir, f"cannot list: {e.strerror or e}") from None


def read_task_stat(pid: int, tid: int, proc_root: Path) -> TaskStat:
    """The stat of one thread; ProcessGone if it exited, HostFileError if unreadable."""
    path = proc_root / str(pid) / "task" / str(tid) / "stat"
    text = read_process_file(path)
    if not text.strip():
        raise ProcessGone(str(path))
    try:
        return parse_task_stat(text)
    except ValueError as e:
        raise HostFileError(path, str(e)) from None


def parse_status(text: str) -> dict[str, str]:
    """The "Key:\\tvalue" lines of a /proc status file, values stripped."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


class AffinitySource(Protocol):
    """Where the CPUs a thread may run on come from."""

    def allowed_cpus(self, pid: int, tid: int) -> frozenset[int]:
        """The thread's affinity mask; ProcessGone if it exited."""
        ...


@dataclass(frozen=True)
class StatusAffinity:
    """Reads `Cpus_allowed_list` from /proc/<pid>/task/<tid>/status under `proc_root`."""

    proc_root: Path

    def allowed_cpus(self, pid: int, tid: int) -> frozenset[int]:
        path = self.proc_root / str(pid) / "task" / str(tid) / "status"
        fields = parse_status(read_process_file(path))
        if "Cpus_allowed_list" not in fields:
            if not fields:
                raise ProcessGone(str(path))
            raise HostFileError(path, "has no Cpus_allowed_list line")
        try:
            return parse_cpulist(fields["Cpus_allowed_list"])
        except CpuListError as e:
            raise HostFileError(path, str(e)) from None


@dataclass(frozen=True)
class SchedAffinity:
    """Asks the kernel with sched_getaffinity(2): only meaningful for the real /proc."""

    def allowed_cpus(self, pid: int, tid: int) -> frozenset[int]:
        try:
            return frozenset(os.sched_getaffinity(tid))
        except ProcessLookupError:
            raise ProcessGone(f"thread {tid} of process {pid}") from None
