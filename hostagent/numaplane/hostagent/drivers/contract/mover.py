"""What a backend offers to move a VM: its memory between nodes, its vCPUs, the VM to
another host. Each backend has a `Mover` (linux, sim, libvirt); the command handlers
(`numaplane.hostagent.commands.moves`) call it from a worker thread.

Movers are synchronous and long-running: they report progress through a callback and
stop early, between two steps, when the `cancel` event is set (the agent is stopping).
A move is resumable: run again after an interruption it moves only what is still out of
place, so an interrupted command that the agent resumes is carried out once in effect.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

from numaplane.hostagent.drivers.contract.errors import BackendError

Progress = Callable[[int, int, str], None]
"""(bytes done, bytes in all, a short message), called as a move advances."""


class MoveError(BackendError):
    """The move cannot be carried out; the message says why (it becomes the result)."""


class MoveCancelled(MoveError):
    """The agent is stopping: the move stopped between two steps and may be resumed."""


@dataclass(frozen=True)
class MemoryMigration:
    vm: str
    to_nodes: tuple[int, ...]
    rate_bytes_per_s: float
    rebind_vcpus: bool = True


@dataclass(frozen=True)
class LiveMigration:
    vm: str
    target_host: str
    target_uri: str = ""
    target_nodes: tuple[int, ...] = ()
    rate_bytes_per_s: float = 0.0


class Mover:
    """The default mover: a backend that can move nothing says so."""

    name = "none"

    def migrate_memory(
        self, move: MemoryMigration, progress: Progress, cancel: threading.Event
    ) -> str:
        raise MoveError(f"the {self.name} backend cannot migrate memory")

    def set_vcpu_affinity(self, vm: str, cpus: tuple[int, ...]) -> str:
        raise MoveError(f"the {self.name} backend cannot set vCPU affinity")

    def live_migrate(self, move: LiveMigration, progress: Progress, cancel: threading.Event) -> str:
        raise MoveError(f"the {self.name} backend cannot live-migrate")

    @property
    def can_live_migrate(self) -> bool:
        return False
