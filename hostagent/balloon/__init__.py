"""One balloon API for every hypervisor: the driver contract and its drivers.

Drivers: `libvirt_balloon` (KVM/QEMU and Xen through libvirt; needs libvirt-python, so it
is imported only by who uses it), `qmp_balloon` (QEMU's monitor, no libvirt) and
`sim_balloon` (the simulator). `command` is the agent's SetBalloon handler.
"""

from hostagent.balloon.contract import (
    PAGE_BYTES,
    BalloonDriver,
    BalloonError,
    BalloonReading,
    check_target,
    observe_balloon,
)

__all__ = [
    "PAGE_BYTES",
    "BalloonDriver",
    "BalloonError",
    "BalloonReading",
    "check_target",
    "observe_balloon",
]
