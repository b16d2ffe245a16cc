"""The balloon driver contract: one API over libvirt, QEMU's monitor and the simulator.

A driver is bound to one VM. It is synchronous, like the backends, because its calls
are blocking I/O (a libvirt RPC, a line on a QMP socket); the agent calls it through
`asyncio.to_thread`, possibly from the reporter and the executor at once, so a driver
must be safe to call from two threads.

What every driver guarantees:

- `set_target` refuses a target of less than one page or above the VM's maximum with a
  BalloonError *before* it touches the hypervisor: a refused target changes nothing.
- Every failure is a BalloonError that names the VM and the cause, never a library's
  own exception type, so the executor and the reporter have one thing to catch.
- `state().target_bytes` is the last target this driver set. Hypervisors do not all keep
  it (QEMU reports only the actual size; libvirt's QEMU driver overwrites its current
  memory with the actual size as the guest moves), so until the driver has set one the
  target is the balloon's current size: a balloon at rest. The controller's intent is
  level-triggered, so a target forgotten by an agent restart is sent again.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from numaplane.common.vm import BalloonCapabilities, BalloonState, GuestMemoryStats
from numaplane.hostagent.drivers.contract.errors import BackendError

log = logging.getLogger(__name__)

PAGE_BYTES = 4096
"""The balloon's unit in the guest (virtio and Xen balloons move whole 4 KiB pages)."""


class BalloonError(BackendError):
    """A balloon operation failed or was refused; says which VM and why."""

    def __init__(self, vm: str, cause: str) -> None:
        super().__init__(f"balloon of VM {vm!r}: {cause}")
        self.vm = vm
        self.cause = cause


@dataclass(frozen=True)
class BalloonReading:
    """What a driver read from the hypervisor about one balloon, at `updated_at`."""

    target_bytes: int
    actual_bytes: int
    max_bytes: int
    updated_at: float
    """Seconds since the epoch when the driver read the balloon."""
    guest: GuestMemoryStats | None = None
    """The guest's own figures, None when it reports none (yet)."""


def check_target(vm: str, target_bytes: int, max_bytes: int) -> None:
    """Refuse a target no balloon can honour: below one page, or above the maximum."""
    if target_bytes < PAGE_BYTES:
        raise BalloonError(
            vm, f"refused target of {target_bytes} bytes: a guest needs at least one page"
        )
    if max_bytes and target_bytes > max_bytes:
        raise BalloonError(
            vm, f"refused target of {target_bytes} bytes: above the VM's maximum of "
                f"{max_bytes} bytes"
        )


class BalloonDriver(ABC):
    """One VM's balloon. Subclasses read and move it; this class checks targets."""

    name: ClassVar[str]
    """The driver's name in reports: libvirt | qmp | sim."""

    def __init__(self, vm: str) -> None:
        self.vm = vm

    @abstractmethod
    def capabilities(self) -> BalloonCapabilities:
        """What this balloon can do (fixed while the VM runs)."""

    @abstractmethod
    def state(self) -> BalloonReading:
        """Target, actual size, maximum and the guest's figures, as of now."""

    @abstractmethod
    def max_bytes(self) -> int:
        """The VM's maximum memory: the largest target it accepts."""

    @abstractmethod
    def _apply_target(self, target_bytes: int) -> None:
        """Send a checked target to the hypervisor."""

    def set_target(self, target_bytes: int) -> None:
        """Ask the guest to have `target_bytes` of memory; returns once the hypervisor took
        the request (the guest then inflates or deflates at its own pace)."""
        check_target(self.vm, target_bytes, self.max_bytes())
        self._apply_target(target_bytes)

    def balloon_state(self) -> BalloonState:
        """The reading with the driver's name and capabilities: what a report carries."""
        reading = self.state()
        return BalloonState(
            target_bytes=reading.target_bytes,
            actual_bytes=reading.actual_bytes,
            driver=self.name,
            capabilities=self.capabilities(),
            guest=reading.guest,
            max_bytes=reading.max_bytes,
            updated_at=reading.updated_at,
        )

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the driver's connection, if it holds one."""


def observe_balloon(driver: BalloonDriver) -> BalloonState | None:
    """The driver's state for a report, or None (logged) when it cannot be read.

    A report must not fail because one VM's balloon does not answer: that VM is then
    reported with its balloon unknown, and the others as usual.
    """
    try:
        return driver.balloon_state()
    except BalloonError as e:
        log.warning("%s", e)
        return None
