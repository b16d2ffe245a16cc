"""A host driver: one backend and the parts of the contract it offers, found in one place.

The agent asks nothing of a backend's type. What it can do is here: observe (always),
balloons (when the backend's capabilities say so; drivers come from `Backend.balloon`),
start and stop VMs (`lifecycle`, or None), move memory, vCPUs and VMs (`mover`, or None).
Each hypervisor folder builds its own HostDriver; `numaplane.hostagent.drivers.registry`
maps a backend name to the function that does.
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.hostagent.drivers.contract.backend import Backend, BackendCapabilities
from numaplane.hostagent.drivers.contract.lifecycle import VmLifecycle
from numaplane.hostagent.drivers.contract.mover import Mover


@dataclass(frozen=True)
class HostDriver:
    backend: Backend
    """Topology and observations; balloon drivers where the hypervisor has balloons."""
    lifecycle: VmLifecycle | None = None
    """StartVm/StopVm; None for a backend that only observes (linux, qmp)."""
    mover: Mover | None = None
    """MigrateMemory, SetVcpuAffinity, LiveMigrate; None for a backend that moves nothing."""

    @property
    def name(self) -> str:
        return self.capabilities().name

    def capabilities(self) -> BackendCapabilities:
        """What the agent's Hello announces (the backend's own declaration)."""
        return self.backend.capabilities()

    @property
    def balloons(self) -> bool:
        """Whether SetBalloon applies here (each VM's driver: `backend.balloon(vm)`)."""
        return self.capabilities().balloon

    def close(self) -> None:
        """Release the backend's handles (its balloon drivers and connections with it)."""
        self.backend.close()
