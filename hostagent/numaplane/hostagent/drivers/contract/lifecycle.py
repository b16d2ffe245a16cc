"""Starting and stopping VMs: the part of a backend the placement commands need.

Not every backend can start VMs (the linux backend only observes processes someone else
started), so this is a separate contract from `Backend`: a host driver that can start and
stop VMs carries a `VmLifecycle` (the libvirt backend is one; the sim backend gets an
adapter, `numaplane.hostagent.drivers.sim.lifecycle`). The agent registers the StartVm/StopVm
handlers only when its driver has one, and advertises the command kinds accordingly.

Both operations are idempotent, because a command may be delivered again after a
reconnect (the agent's applied log normally answers it, but not after a restart without
a state directory): starting a VM that already runs, or stopping one that is not there,
succeeds and says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from numaplane.hostagent.drivers.contract.errors import BackendError


@dataclass(frozen=True)
class VmStart:
    """What StartVm asks for, in the agent's terms."""

    name: str
    vcpus: int
    memory_bytes: int
    nodes: tuple[int, ...] = ()
    """Memory binding; empty = none (first touch)."""
    cpus: tuple[int, ...] = ()
    """vCPU affinity (each vCPU pinned to one of them, in turn); empty = any CPU."""
    strict_memory: bool = True
    """True: memory may not leave `nodes` (strict); False: preferred, may spill."""
    limit_bytes: int = 0
    """The most memory the VM is given at boot (its balloon starts there); 0 = all of it."""

    @property
    def boot_bytes(self) -> int:
        """Memory the VM holds once started: its limit, else its configured size."""
        if 0 < self.limit_bytes < self.memory_bytes:
            return self.limit_bytes
        return self.memory_bytes


class NoRoomError(BackendError):
    """The host cannot hold the VM where it was asked to go (the controller retries
    the placement elsewhere, so the message starts with "no room")."""


class VmLifecycle(Protocol):
    def start_vm(self, start: VmStart) -> str:
        """Start the VM; a message for the command result. Raises BackendError
        (NoRoomError when the binding cannot hold its memory)."""

    def stop_vm(self, name: str) -> str:
        """Stop and remove the VM; a message. Succeeds when the VM is not there."""
