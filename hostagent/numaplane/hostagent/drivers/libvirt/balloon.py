"""The `libvirt` balloon driver: one code path for KVM/QEMU and Xen (libvirt's libxl driver).

It is written against a `libvirt.virDomain` and nothing else, so any backend that holds
a domain (the libvirt backend, a test on `test:///default`) can hand it one. Only calls
that both hypervisor drivers implement are used:

- `setMemoryFlags(KiB, VIR_DOMAIN_AFFECT_LIVE)` moves the target of the running guest
  (QEMU: the `balloon` monitor command; libxl: `libxl_set_memory_target`). The
  persistent config is left alone: a balloon target is run-time state, not the VM's size.
- `memoryStats()` gives the actual size ("actual") and, where the guest reports them,
  its own figures; `setMemoryStatsPeriod` turns those on for a virtio balloon (a Xen
  balloon has no statistics queue, so libxl reports only the size).
- `maxMemory()` is the largest target; `info()[2]` the current memory (libxl: the target;
  QEMU: the last size the guest reached).

Capabilities come from the domain's `<memballoon>` element: `model` (virtio* have guest
statistics; `none` means no balloon at all), `autodeflate` and `freePageReporting`.
"""

from __future__ import annotations

import logging
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from typing import TypeVar

import libvirt

from numaplane.common.vm import BalloonCapabilities, GuestMemoryStats
from numaplane.hostagent.drivers.contract import (
    BalloonDriver,
    BalloonError,
    BalloonReading,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

KIB = 1024
VIRTIO_MODELS = frozenset({"virtio", "virtio-transitional", "virtio-non-transitional"})
"""memballoon models whose guest driver has a statistics queue."""


def memballoon_model(domain: libvirt.virDomain) -> str | None:
    """The `<memballoon model>` of the running domain; None when the XML names none."""
    element = _memballoon(domain)
    return None if element is None else element.get("model")


def has_balloon(domain: libvirt.virDomain) -> bool:
    """False only when the domain says it has no balloon (`<memballoon model='none'>`)."""
    return memballoon_model(domain) != "none"


def _memballoon(domain: libvirt.virDomain) -> ET.Element | None:
    xml: str = domain.XMLDesc(0)
    return ET.fromstring(xml).find("./devices/memballoon")


class LibvirtBalloon(BalloonDriver):
    name = "libvirt"

    def __init__(
        self,
        domain: libvirt.virDomain,
        *,
        vm: str | None = None,
        stats_period_s: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`vm` defaults to the domain's name; `stats_period_s` 0 leaves guest stats off."""
        super().__init__(vm if vm is not None else str(domain.name()))
        self._domain = domain
        self._stats_period_s = stats_period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._target: int | None = None
        self._stats_asked = False

    def capabilities(self) -> BalloonCapabilities:
        element = self._call(lambda: _memballoon(self._domain), "read the domain XML")
        if element is None:
            return BalloonCapabilities()
        return BalloonCapabilities(
            guest_stats=element.get("model") in VIRTIO_MODELS,
            deflate_on_oom=element.get("autodeflate") == "on",
            free_page_reporting=element.get("freePageReporting") == "on",
        )

    def max_bytes(self) -> int:
        return int(self._call(self._domain.maxMemory, "read the maximum memory")) * KIB

    def state(self) -> BalloonReading:
        self._ask_for_stats()
        info = self._call(self._domain.info, "read the domain info")
        stats: Mapping[str, int] = self._call(self._domain.memoryStats, "read memory stats")
        current = int(info[2]) * KIB
        with self._lock:
            target = self._target if self._target is not None else current
        return BalloonReading(
            target_bytes=target,
            actual_bytes=int(stats.get("actual", info[2])) * KIB,
            max_bytes=int(info[1]) * KIB,
            updated_at=self._clock(),
            guest=guest_stats_from_libvirt(stats),
        )

    def _apply_target(self, target_bytes: int) -> None:
        if self._call(lambda: memballoon_model(self._domain), "read the domain XML") == "none":
            raise BalloonError(self.vm, "the domain has no balloon (<memballoon model='none'>)")
        kib = target_bytes // KIB
        self._call(
            lambda: self._domain.setMemoryFlags(kib, libvirt.VIR_DOMAIN_AFFECT_LIVE),
            f"set the target to {kib} KiB",
        )
        with self._lock:
            self._target = kib * KIB

    def _ask_for_stats(self) -> None:
        """Turn on the guest's statistics for a virtio balloon whose period is 0.

        Asked once per driver: a refusal is logged and not repeated every report.
        """
        with self._lock:
            if self._stats_asked or self._stats_period_s <= 0:
                return
        element = self._call(lambda: _memballoon(self._domain), "read the domain XML")
        with self._lock:
            self._stats_asked = True
        if element is None or element.get("model") not in VIRTIO_MODELS:
            return
        period = element.find("stats")
        if period is not None and int(period.get("period", "0")) > 0:
            return
        try:
            self._call(
                lambda: self._domain.setMemoryStatsPeriod(
                    self._stats_period_s, libvirt.VIR_DOMAIN_AFFECT_LIVE
                ),
                "turn on guest statistics",
            )
        except BalloonError as e:
            log.warning("%s (reporting the balloon without them)", e)

    def _call(self, fn: Callable[[], T], what: str) -> T:
        try:
            return fn()
        except libvirt.libvirtError as e:
            raise BalloonError(self.vm, f"libvirt could not {what}: {e}") from e


def guest_stats_from_libvirt(stats: Mapping[str, int]) -> GuestMemoryStats | None:
    """The guest's figures from `memoryStats()` (KiB), None when the guest gave none.

    "actual" and "rss" are the host's side and always there; the rest appear only once
    the guest's balloon driver has answered a statistics request.
    """
    keys = ("unused", "available", "usable", "swap_in", "swap_out")
    if not any(k in stats for k in keys[:3]):
        return None

    def kib(key: str) -> int | None:
        return int(stats[key]) * KIB if key in stats else None

    return GuestMemoryStats(
        free_bytes=kib("unused"),
        available_bytes=kib("available"),
        usable_bytes=kib("usable"),
        swap_in_bytes=kib("swap_in"),
        swap_out_bytes=kib("swap_out"),
    )
