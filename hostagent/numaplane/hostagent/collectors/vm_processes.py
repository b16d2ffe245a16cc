"""Which processes on this host are VMs, and what they are called.

Two rules, used together: an explicit mapping of VM name to pid (for processes started
by someone who knows the pid, or a plain process standing in for a VM), and discovery of
processes whose `comm` fully matches a pattern such as `qemu-system-.*`. The kernel cuts
`comm` to 15 characters ("qemu-system-x86_64" shows as "qemu-system-x86"), which is why
the pattern is matched against what /proc shows and not against the binary's name.
A discovered VM is named by `-name` in its command line, else "pid-<pid>".
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from numaplane.hostagent.collectors.host_files import (
    HostFileError,
    ProcessGone,
    read_process_bytes,
    read_process_file,
)
from numaplane.hostagent.collectors.qemu_cmdline import qemu_guest_name

_PID = re.compile(r"^\d+$")


@dataclass(frozen=True)
class VmProcess:
    name: str
    pid: int


def discover_vm_processes(
    proc_root: Path,
    *,
    pids: Mapping[str, int],
    comm_pattern: re.Pattern[str] | None,
) -> list[VmProcess]:
    """The VM processes: every entry of `pids`, then discovered ones, by pid.

    A pid in `pids` is returned even if it no longer exists (the caller skips it when
    reading fails); a discovered process that exits while it is examined is left out.
    """
    found = {pid: VmProcess(name=name, pid=pid) for name, pid in pids.items()}
    if comm_pattern is not None:
        for pid in _all_pids(proc_root):
            if pid in found:
                continue
            try:
                comm = read_process_file(proc_root / str(pid) / "comm").rstrip("\n")
                if not comm_pattern.fullmatch(comm):
                    continue
                argv = read_cmdline(pid, proc_root)
            except ProcessGone:
                continue
            found[pid] = VmProcess(name=qemu_guest_name(argv) or f"pid-{pid}", pid=pid)
    return [found[pid] for pid in sorted(found)]


def read_cmdline(pid: int, proc_root: Path) -> list[str]:
    """The argument vector of `pid` (NUL-separated in /proc/<pid>/cmdline)."""
    raw = read_process_bytes(proc_root / str(pid) / "cmdline")
    if not raw:
        return []  # a kernel thread or a zombie
    # Normally every argument ends with a NUL; a process that rewrote its title may not.
    args = raw[:-1] if raw.endswith(b"\0") else raw
    return [arg.decode("utf-8", errors="replace") for arg in args.split(b"\0")]


def _all_pids(proc_root: Path) -> list[int]:
    try:
        return sorted(int(p.name) for p in proc_root.iterdir() if _PID.match(p.name))
    except OSError as e:
        raise HostFileError(proc_root, f"cannot list processes: {e.strerror or e}") from None
