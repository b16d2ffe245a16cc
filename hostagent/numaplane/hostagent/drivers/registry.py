"""Backend name -> the host driver it opens: the one place a capability is looked up.

Each entry imports its hypervisor folder only when chosen, so a host without
libvirt-python runs the sim, linux or qmp backend (and `--backend libvirt` there says
which extra to install), and an agent loads one driver's code.
Entries are functions, not strings: a misspelt module fails the type check, not a host.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from numaplane.common.extras import require_extra
from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.settings import AgentSettings


def _sim(settings: AgentSettings) -> HostDriver:
    from numaplane.hostagent.drivers.sim.driver import open_driver

    return open_driver(settings)


def _linux(settings: AgentSettings) -> HostDriver:
    from numaplane.hostagent.drivers.linux.driver import open_driver

    return open_driver(settings)


def _libvirt(settings: AgentSettings) -> HostDriver:
    require_extra("libvirt", what="the libvirt backend")
    from numaplane.hostagent.drivers.libvirt.driver import open_driver

    return open_driver(settings)


def _qmp(settings: AgentSettings) -> HostDriver:
    from numaplane.hostagent.drivers.qmp.driver import open_driver

    return open_driver(settings)


DRIVERS: Mapping[str, Callable[[AgentSettings], HostDriver]] = MappingProxyType(
    {"sim": _sim, "linux": _linux, "libvirt": _libvirt, "qmp": _qmp}
)


class UnknownBackendError(ValueError):
    """A backend name no driver answers to; the message lists the known ones."""


def open_driver(settings: AgentSettings) -> HostDriver:
    """The host driver `settings.backend` names, opened with the settings."""
    try:
        opener = DRIVERS[settings.backend]
    except KeyError:
        known = ", ".join(DRIVERS)
        raise UnknownBackendError(
            f"unknown backend {settings.backend!r} (choose {known})"
        ) from None
    return opener(settings)
