"""Reading the kernel's pseudo-files (sysfs, procfs) with errors that name the file.

A malformed or missing file under /sys or /proc is almost always a kernel or container
quirk that an operator has to look at by hand, so every failure says which file and why.
A process that exits while we read it is not such a failure: those reads raise
`ProcessGone`, which callers skip.
"""

from __future__ import annotations

import errno
from pathlib import Path


class HostFileError(ValueError):
    """A sysfs or proc file is missing or cannot be understood; the message names it."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class ProcessGone(Exception):
    """The process (or thread) whose /proc entry was being read no longer exists."""


def read_text(path: Path) -> str:
    """The whole file; HostFileError if it is missing or unreadable."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise HostFileError(path, "file does not exist") from None
    except OSError as e:
        raise HostFileError(path, f"cannot read: {e.strerror or e}") from None


def read_optional(path: Path) -> str | None:
    """The whole file, or None when it does not exist (older kernels lack some files)."""
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
    except OSError as e:
        raise HostFileError(path, f"cannot read: {e.strerror or e}") from None


def read_process_file(path: Path) -> str:
    """A file under /proc/<pid>: ProcessGone when the process exited, else as `read_text`.

    A process can exit between listing /proc and reading its files: the open fails with
    ENOENT, or a read on an already open file fails with ESRCH. Both mean "gone".
    """
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(str(path)) from None
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(str(path)) from None
        raise HostFileError(path, f"cannot read: {e.strerror or e}") from None


def read_process_bytes(path: Path) -> bytes:
    """Like `read_process_file` for binary files such as /proc/<pid>/cmdline."""
    try:
        return path.read_bytes()
    except (FileNotFoundError, ProcessLookupError):
        raise ProcessGone(str(path)) from None
    except OSError as e:
        if e.errno in (errno.ENOENT, errno.ESRCH):
            raise ProcessGone(str(path)) from None
        raise HostFileError(path, f"cannot read: {e.strerror or e}") from None
