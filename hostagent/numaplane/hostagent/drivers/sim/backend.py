"""The sim backend: a SimHost behind the agent's Backend contract, on the agent's clock.

Simulated time follows an injectable clock: every call first advances the host by the
time elapsed on the clock since the previous call. The agent passes `time.time`; tests
pass a counter they move by hand, which keeps them deterministic. The agent calls
backends from worker threads (`asyncio.to_thread`), so every access holds a lock.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable
from typing import TypeVar

from numaplane.common.locality import vcpus_by_node
from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation
from numaplane.hostagent.drivers.contract import Backend, BackendCapabilities
from numaplane.hostagent.drivers.sim.balloon import SimBalloon, sim_balloon_state
from numaplane.hostagent.drivers.sim.host import SimHost

T = TypeVar("T")


class SimBackend(Backend):
    def __init__(self, host: SimHost, *, clock: Callable[[], float] = time.time) -> None:
        self._host = host
        self._clock = clock
        self._last = clock()
        self._lock = threading.Lock()

    def capabilities(self) -> BackendCapabilities:
        # (imported here: the fabric imports this module)
        from numaplane.hostagent.drivers.sim.fabric import fabric_of

        # Live migration needs a peer simulated host: one in the same SimFabric.
        return BackendCapabilities(
            name="sim",
            balloon=True,
            memory_migration=True,
            live_migration=fabric_of(self) is not None,
        )

    def topology(self) -> Topology:
        return self.with_host(lambda host: host.topology())

    def observe(self) -> HostObservation:
        """The host's observation, each VM with its full balloon state (driver `sim`) and
        its vCPUs per node exactly as the simulator places them (`vcpu_nodes`: the
        simulated vCPUs stay on their CPUs between the simulator's own moves, so there
        is nothing to sample)."""

        def read(host: SimHost) -> HostObservation:
            obs = host.observe(observed_at=self._last)
            node_of = host.topology().node_of_cpu
            states = {vm.name: vm for vm in host.vms()}
            vms = tuple(
                dataclasses.replace(
                    vm,
                    balloon=sim_balloon_state(states[vm.name], self._last),
                    vcpu_nodes=vcpus_by_node(states[vm.name].vcpu_cpus, node_of),
                )
                for vm in obs.vms
            )
            return dataclasses.replace(obs, vms=vms)

        return self.with_host(read)

    def balloon(self, vm: str) -> SimBalloon | None:
        return SimBalloon(self, vm) if self.with_host(lambda host: host.has_vm(vm)) else None

    @property
    def clock_time(self) -> float:
        """The clock's time the simulated host was last brought up to."""
        return self._last

    def with_host(self, fn: Callable[[SimHost], T]) -> T:
        """Run `fn` on the host, brought up to the clock's time, under the lock.

        This is how an executor acts on the simulated host: `backend.with_host(lambda h:
        h.set_balloon_target("vm1", 2 << 30))`.
        """
        with self._lock:
            now = self._clock()
            if now > self._last:
                self._host.advance(now - self._last)
                self._last = now
            return fn(self._host)
