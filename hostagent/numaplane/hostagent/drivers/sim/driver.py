"""The simulated host as a host driver: observes, balloons, starts VMs, moves them."""

from __future__ import annotations

from numaplane.hostagent.drivers.contract import HostDriver
from numaplane.hostagent.drivers.sim.backend import SimBackend
from numaplane.hostagent.drivers.sim.factory import sim_backend_from_settings
from numaplane.hostagent.drivers.sim.lifecycle import SimLifecycle
from numaplane.hostagent.drivers.sim.mover import SimMover
from numaplane.hostagent.settings import AgentSettings


def sim_driver(backend: SimBackend) -> HostDriver:
    """Every part of the contract over one simulated host (the demo and tests build the
    SimBackend themselves; live migration needs the host in a `SimFabric`)."""
    return HostDriver(backend=backend, lifecycle=SimLifecycle(backend), mover=SimMover(backend))


def open_driver(settings: AgentSettings) -> HostDriver:
    return sim_driver(sim_backend_from_settings(settings))
