"""Balloon drivers for the domains of one libvirt connection (the libvirt backend's balloons).

One `LibvirtBalloon` per domain, kept while the domain keeps its UUID: a driver
remembers the last target it set (libvirt's QEMU driver does not keep it, see the
contract), so a new driver per report would forget it. A domain redefined under the same
name gets a fresh driver. Domains that say they have no balloon
(`<memballoon model='none'>`) get none.
"""

from __future__ import annotations

import dataclasses
import threading

import libvirt

from numaplane.common.vm import HostObservation
from numaplane.hostagent.drivers.contract import observe_balloon
from numaplane.hostagent.drivers.libvirt.balloon import LibvirtBalloon, has_balloon


class LibvirtBalloons:
    def __init__(self, connection: libvirt.virConnect, *, stats_period_s: int = 5) -> None:
        self._conn = connection
        self._stats_period_s = stats_period_s
        self._lock = threading.Lock()
        self._drivers: dict[str, tuple[str, LibvirtBalloon]] = {}
        """Domain name -> (its UUID, its driver)."""

    def driver(self, name: str) -> LibvirtBalloon | None:
        """The balloon of the running domain `name`; None if it is not running or has none."""
        try:
            domain = self._conn.lookupByName(name)
            if not domain.isActive() or not has_balloon(domain):
                return None
            uuid = str(domain.UUIDString())
        except libvirt.libvirtError:
            return None  # no such domain (or it went away while we looked)
        with self._lock:
            known = self._drivers.get(name)
            if known is not None and known[0] == uuid:
                return known[1]
            driver = LibvirtBalloon(domain, vm=name, stats_period_s=self._stats_period_s)
            self._drivers[name] = (uuid, driver)
            return driver

    def fill(self, obs: HostObservation) -> HostObservation:
        """`obs` with every running VM's balloon state (unknown where it cannot be read)."""
        vms = []
        for vm in obs.vms:
            driver = self.driver(vm.name) if vm.state == "running" else None
            balloon = observe_balloon(driver) if driver is not None else None
            vms.append(dataclasses.replace(vm, balloon=balloon))
        with self._lock:  # forget domains that are gone
            names = {vm.name for vm in obs.vms}
            for name in [n for n in self._drivers if n not in names]:
                del self._drivers[name]
        return dataclasses.replace(obs, vms=tuple(vms))
