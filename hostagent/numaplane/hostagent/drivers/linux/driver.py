"""The linux host as a host driver: observes VM processes and moves their memory and vCPUs;
it neither starts VMs nor has balloons (someone else runs the QEMUs)."""

from __future__ import annotations

from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.drivers.linux.backend import LinuxBackend
from numaplane.hostagent.drivers.linux.mover import LinuxMover
from numaplane.hostagent.settings import AgentSettings


def linux_driver(backend: LinuxBackend) -> HostDriver:
    return HostDriver(backend=backend, mover=LinuxMover(backend))


def open_driver(settings: AgentSettings) -> HostDriver:
    return linux_driver(
        LinuxBackend(
            sysfs_root=settings.sysfs_root,
            proc_root=settings.proc_root,
            vm_comm_pattern=settings.vm_process_pattern,
        )
    )
