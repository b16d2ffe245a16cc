"""QEMU's monitor protocol (QMP): the agent's way to a QEMU that runs without libvirt."""

from numaplane.hostagent.drivers.qmp.client import (
    QmpClient,
    QmpCommandError,
    QmpConnectionError,
    QmpError,
)

__all__ = ["QmpClient", "QmpCommandError", "QmpConnectionError", "QmpError"]
