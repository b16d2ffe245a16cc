"""The libvirt host as a host driver: domains observed, started and stopped, ballooned, and
moved (live `<numatune>`, vCPU pins, migrateToURI3), all over one connection."""

from __future__ import annotations

from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend
from numaplane.hostagent.drivers.libvirt.mover import LibvirtMover
from numaplane.hostagent.settings import AgentSettings


def libvirt_driver(backend: LibvirtBackend) -> HostDriver:
    return HostDriver(backend=backend, lifecycle=backend, mover=LibvirtMover(backend.connection))


def open_driver(settings: AgentSettings) -> HostDriver:
    return libvirt_driver(
        LibvirtBackend(
            settings.libvirt_uri,
            balloon_stats_period_s=settings.balloon_stats_period_s,
            qemu_pid_dir=settings.libvirt_qemu_pid_dir,
        )
    )
