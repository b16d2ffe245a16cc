"""One balloon API for every hypervisor: the driver contract and its drivers.

Drivers: `libvirt_balloon` (KVM/QEMU and Xen through libvirt; needs libvirt-python, so it
and `libvirt_domains`, the libvirt backend's per-domain drivers, are imported only by
who uses them), `qmp_balloon` (QEMU's monitor, no libvirt) and `sim_balloon` (the
simulator). Backends hand out drivers through `Backend.balloon(vm)` and put
`observe_balloon(driver)` in every VM's observation; `command` is the agent's SetBalloon
handler.
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
