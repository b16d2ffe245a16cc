"""The `qmp` balloon driver: a virtio-balloon moved through QEMU's monitor, no libvirt.

QMP commands used (QEMU >= 2.11):

- `balloon {"value": bytes}` sets the target; `query-balloon` gives the actual size
  (QEMU reports only that: the target is the driver's own memory, see the contract).
- `query-memory-size-summary`: base plus hot-plugged memory is the maximum (QEMU clamps
  a larger target to it silently; the driver refuses one instead).
- The balloon device's QOM properties: `guest-stats-polling-interval` (set once per
  connection to turn guest statistics on), `guest-stats` (the guest's last figures,
  with `last-update` 0 until the guest driver has answered), `deflate-on-oom` and
  `free-page-reporting` (the capabilities).

The device is found at `/machine/peripheral/<device_id>` (virtme-ng and libvirt give it
the id `balloon0`), else as the first `virtio-balloon*` child of `/machine/peripheral` or
`/machine/peripheral-anon` (a device given without an id). What the driver learns
about the device is cached per connection: a QEMU that restarted behind the same socket
is looked at afresh, and a target set on a QEMU that is gone is forgotten.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from numaplane.common.vm import BalloonCapabilities, GuestMemoryStats
from numaplane.hostagent.drivers.contract import (
    BalloonDriver,
    BalloonError,
    BalloonReading,
)
from numaplane.hostagent.drivers.qmp import QmpClient, QmpCommandError, QmpError

PERIPHERAL_PARENTS = ("/machine/peripheral", "/machine/peripheral-anon")
NOT_REPORTED = 2**64 - 1
"""What QEMU shows for a statistic the guest has not reported (-1 as an unsigned 64-bit)."""
GUEST_STATS = {
    "free_bytes": "stat-free-memory",
    "available_bytes": "stat-total-memory",
    "usable_bytes": "stat-available-memory",
    "swap_in_bytes": "stat-swap-in",
    "swap_out_bytes": "stat-swap-out",
}
"""GuestMemoryStats fields (libvirt's vocabulary) and the QEMU statistic each comes from."""


@dataclass
class _Device:
    """What one connection taught us about the balloon device."""

    generation: int
    pid: int
    path: str
    capabilities: BalloonCapabilities


class QmpBalloon(BalloonDriver):
    name = "qmp"

    def __init__(
        self,
        vm: str,
        client: QmpClient,
        *,
        device_id: str = "balloon0",
        stats_period_s: int = 5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """`stats_period_s` 0 leaves the guest's statistics as they are (usually off)."""
        super().__init__(vm)
        self._client = client
        self._device_id = device_id
        self._stats_period_s = stats_period_s
        self._clock = clock
        self._lock = threading.Lock()
        self._device: _Device | None = None
        self._target: int | None = None
        self._target_pid = 0

    def capabilities(self) -> BalloonCapabilities:
        return self._find_device().capabilities

    def max_bytes(self) -> int:
        summary = self._qmp("query-memory-size-summary")
        return int(summary.get("base-memory", 0)) + int(summary.get("plugged-memory", 0))

    def state(self) -> BalloonReading:
        device = self._find_device()
        actual = int(self._qmp("query-balloon")["actual"])
        maximum = self.max_bytes()
        guest = None
        if device.capabilities.guest_stats:
            guest = guest_stats_from_qom(self._qmp(
                "qom-get", {"path": device.path, "property": "guest-stats"}))
        with self._lock:
            known = self._target is not None and self._target_pid == device.pid
            target = self._target if known and self._target is not None else actual
        return BalloonReading(
            target_bytes=target, actual_bytes=actual, max_bytes=maximum,
            updated_at=self._clock(), guest=guest,
        )

    def _apply_target(self, target_bytes: int) -> None:
        device = self._find_device()
        self._qmp("balloon", {"value": target_bytes})
        with self._lock:
            self._target, self._target_pid = target_bytes, device.pid

    def close(self) -> None:
        self._client.close()

    # -- internals -------------------------------------------------------------------

    def _qmp(self, command: str, arguments: Mapping[str, Any] | None = None) -> Any:
        try:
            return self._client.execute(command, arguments)
        except QmpError as e:
            raise BalloonError(self.vm, f"QMP at {self._client.path}: {e}") from e

    def _find_device(self) -> _Device:
        """The balloon device of the QEMU we are connected to now (cached per connection)."""
        try:
            pid = self._client.peer_pid  # connects if needed
        except QmpError as e:
            raise BalloonError(self.vm, f"QMP at {self._client.path}: {e}") from e
        generation = self._client.generation
        with self._lock:
            if self._device is not None and self._device.generation == generation:
                return self._device
        path, properties = self._locate()
        if path is None:
            raise BalloonError(self.vm, "QEMU has no virtio-balloon device")
        stats = "guest-stats" in properties and "guest-stats-polling-interval" in properties
        if stats and self._stats_period_s > 0:
            self._qmp("qom-set", {"path": path, "property": "guest-stats-polling-interval",
                                  "value": self._stats_period_s})
        caps = BalloonCapabilities(
            guest_stats=stats,
            deflate_on_oom=self._bool_property(path, properties, "deflate-on-oom"),
            free_page_reporting=self._bool_property(path, properties, "free-page-reporting"),
        )
        device = _Device(generation, pid, path, caps)
        with self._lock:
            self._device = device
        return device

    def _locate(self) -> tuple[str | None, set[str]]:
        """The QOM path of the balloon device and the names of its properties."""
        candidates: list[str] = []
        for parent in PERIPHERAL_PARENTS:
            try:
                children = self._client.execute("qom-list", {"path": parent})
            except QmpCommandError:
                continue  # peripheral-anon exists only once an anonymous device does
            except QmpError as e:
                raise BalloonError(self.vm, f"QMP at {self._client.path}: {e}") from e
            for child in children:
                if not str(child.get("type", "")).startswith("child<virtio-balloon"):
                    continue
                path = f"{parent}/{child['name']}"
                if child["name"] == self._device_id:
                    candidates.insert(0, path)
                else:
                    candidates.append(path)
        if not candidates:
            return None, set()
        properties = self._qmp("qom-list", {"path": candidates[0]})
        return candidates[0], {str(p["name"]) for p in properties}

    def _bool_property(self, path: str, properties: set[str], name: str) -> bool:
        if name not in properties:
            return False
        return bool(self._qmp("qom-get", {"path": path, "property": name}))


def guest_stats_from_qom(value: Mapping[str, Any]) -> GuestMemoryStats | None:
    """The guest's figures from the device's `guest-stats` property, None before any."""
    if not value.get("last-update"):
        return None
    stats: Mapping[str, Any] = value.get("stats", {})

    def figure(key: str) -> int | None:
        raw = stats.get(key)
        return None if raw is None or int(raw) == NOT_REPORTED else int(raw)

    return GuestMemoryStats(**{field: figure(key) for field, key in GUEST_STATS.items()})
