"""The kernel's NUMA system calls, raw, through ctypes: no libnuma needed on the host.

Only what the agent uses, with the x86_64 and aarch64 system call numbers (glibc has no
wrappers for these; libnuma's are thin wrappers around the same calls):

- `move_pages(2)`: with `nodes` None it only reports the node of each page (or a negative
  errno for a page that is not present); with `nodes` it moves each page to its node and
  reports where each page is afterwards. Per-page control is what lets the agent move a
  process's memory in rate-limited chunks.
- `migrate_pages(2)`: moves every page of a process from one node set to another in one
  call, at whatever speed the kernel manages; kept for callers that want no rate limit.
- `set_mempolicy(2)`: the calling thread's policy for new pages (tests use it to put a
  stand-in VM's memory on a chosen node).

Moving another process's pages needs the same user (or CAP_SYS_NICE). Pages it shares
with other processes (its binary, libraries) move only with `MPOL_MF_MOVE_ALL`, which
needs CAP_SYS_NICE: the agent asks for it when it runs as root — what `migrate_pages(2)`,
and so numad, does for a privileged caller — and `MPOL_MF_MOVE` (its own pages only)
otherwise.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import platform
from collections.abc import Iterable, Sequence

SYSCALLS = {
    "x86_64": {"set_mempolicy": 238, "migrate_pages": 256, "move_pages": 279},
    "aarch64": {"set_mempolicy": 237, "migrate_pages": 238, "move_pages": 239},
}
MPOL_DEFAULT = 0
MPOL_PREFERRED = 1
MPOL_BIND = 2
MPOL_MF_MOVE = 1 << 1
MPOL_MF_MOVE_ALL = 1 << 2
MAX_NODES = 1024
"""Size of the node masks passed to the kernel (bits); more than any machine has."""

_libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long


class NumaSyscallError(OSError):
    """A NUMA system call failed; errno and the call are in the message."""


def _number(name: str) -> int:
    table = SYSCALLS.get(platform.machine())
    if table is None:
        raise NumaSyscallError(f"{name}: no system call number for {platform.machine()}")
    return table[name]


def _check(name: str, result: int) -> int:
    if result < 0:
        err = ctypes.get_errno()
        raise NumaSyscallError(err, f"{name}: {os.strerror(err)}")
    return result


def node_mask(nodes: Iterable[int]) -> ctypes.Array[ctypes.c_ulong]:
    """A kernel nodemask (array of unsigned longs) with `nodes` set."""
    bits = ctypes.sizeof(ctypes.c_ulong) * 8
    mask = (ctypes.c_ulong * (MAX_NODES // bits))()
    for node in nodes:
        if not 0 <= node < MAX_NODES:
            raise ValueError(f"node {node} out of range")
        mask[node // bits] |= 1 << (node % bits)
    return mask


def move_pages(
    pid: int, addresses: Sequence[int], nodes: Sequence[int] | None = None
) -> list[int]:
    """Move (or, with `nodes` None, locate) pages of `pid`; a node or -errno per page."""
    count = len(addresses)
    if count == 0:
        return []
    pages = (ctypes.c_void_p * count)(*addresses)
    status = (ctypes.c_int * count)()
    targets = (ctypes.c_int * count)(*nodes) if nodes is not None else None
    flags = 0
    if nodes is not None:
        flags = MPOL_MF_MOVE_ALL if os.geteuid() == 0 else MPOL_MF_MOVE
    _check(
        "move_pages",
        _syscall(
            ctypes.c_long(_number("move_pages")),
            ctypes.c_int(pid),
            ctypes.c_ulong(count),
            pages,
            targets,
            status,
            ctypes.c_int(flags),
        ),
    )
    return list(status)


def migrate_pages(pid: int, from_nodes: Iterable[int], to_nodes: Iterable[int]) -> int:
    """Move every page of `pid` on `from_nodes` to `to_nodes`; pages that could not move."""
    old, new = node_mask(from_nodes), node_mask(to_nodes)
    return _check(
        "migrate_pages",
        _syscall(
            ctypes.c_long(_number("migrate_pages")),
            ctypes.c_int(pid),
            ctypes.c_ulong(MAX_NODES),
            old,
            new,
        ),
    )


def set_mempolicy(mode: int, nodes: Iterable[int] = ()) -> None:
    """Set the calling thread's memory policy (MPOL_BIND to `nodes`, MPOL_DEFAULT, ...)."""
    mask = node_mask(nodes)
    _check(
        "set_mempolicy",
        _syscall(
            ctypes.c_long(_number("set_mempolicy")),
            ctypes.c_int(mode),
            mask if mode != MPOL_DEFAULT else None,
            ctypes.c_ulong(MAX_NODES if mode != MPOL_DEFAULT else 0),
        ),
    )
