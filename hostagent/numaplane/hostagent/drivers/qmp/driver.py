"""QEMUs run without libvirt as a host driver: the linux view of their processes and their
balloons over QMP; it starts nothing and moves nothing."""

from __future__ import annotations

from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.drivers.qmp.backend import QmpBackend, parse_qmp_sockets
from numaplane.hostagent.settings import AgentSettings


def open_driver(settings: AgentSettings) -> HostDriver:
    return HostDriver(
        backend=QmpBackend(
            parse_qmp_sockets(settings.qmp_sockets),
            sysfs_root=settings.sysfs_root,
            stats_period_s=settings.balloon_stats_period_s,
        )
    )
