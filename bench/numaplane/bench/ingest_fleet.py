"""Simulated agents for the ingest benchmark: N real Agents on sim hosts, and a sink.

The agents are the production `hostagent.Agent` (real gRPC channel, reporter, executor)
over `SimBackend`s, started as tasks of one `Fleet`, staggered over one report interval
as a real fleet's agents would be (hosts do not boot in the same second). Between
reports a seeded drift moves the simulated hosts — NUMA memory migrations and balloon
changes — so that some reports carry material changes and some do not.

`Sink` is an AgentLink endpoint that welcomes agents and drops everything they send.
Running the same fleet against it measures what the agents and the gRPC transport cost
this process, which the benchmark subtracts to estimate the controller's own CPU.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import AsyncIterator
from dataclasses import dataclass

import grpc

from numaplane.common.grpc_options import server_options
from numaplane.common.units import MiB
from numaplane.controller.settings import ControllerSettings
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.sim import SimBackend, SimHost
from numaplane.hostagent.drivers.sim.driver import sim_driver
from numaplane.hostagent.drivers.sim.factory import demo_spec, populate
from numaplane.hostagent.settings import AgentSettings
from numaplane.v1 import link_pb2, link_pb2_grpc


@dataclass(frozen=True)
class FleetSpec:
    agents: int
    vms_per_host: int = 6
    report_interval_s: float = 5.0
    drift: float = 0.3
    """Chance per host and per interval that one of its VMs moves memory or ballooning."""
    migration_mib_s: float = 256.0
    """Bandwidth of a drift migration: a few GiB take several reports to move."""
    seed: int = 1


def _host(index: int, spec: FleetSpec) -> SimBackend:
    name = f"bench-{index:04d}"
    host = SimHost(demo_spec(index, name), seed=spec.seed * 100_003 + index)
    populate(host, spec.vms_per_host, random.Random(spec.seed * 7919 + index), prefix=name)
    return SimBackend(host)


def _drift_one(host: SimHost, rng: random.Random, spec: FleetSpec) -> None:
    """Move one running VM a little: its memory to another node, or its balloon."""
    vms = [v for v in host.vms() if v.state == "running"]
    if not vms:
        return
    vm = rng.choice(vms)
    nodes = host.topology().node_ids
    with contextlib.suppress(ValueError):  # a full node, a balloon below its floor: skip
        if rng.random() < 0.5 and len(nodes) > 1:
            host.migrate_memory(vm.name, [rng.choice(nodes)], spec.migration_mib_s * MiB)
        else:
            host.set_balloon_target(vm.name, int(vm.memory_bytes * rng.uniform(0.8, 1.0)))


class Fleet:
    """N agents and their drift, as tasks this object owns (closed by `running_fleet`)."""

    def __init__(self, spec: FleetSpec, controller: str) -> None:
        self.spec = spec
        self.backends = [_host(i, spec) for i in range(spec.agents)]
        self.agents = [
            Agent(AgentSettings(host=f"bench-{i:04d}", controller=controller, backend="sim",
                                report_interval_s=spec.report_interval_s), sim_driver(backend))
            for i, backend in enumerate(self.backends)
        ]
        self._tasks: list[asyncio.Task[None]] = []

    def reported(self) -> int:
        """Agents that have sent at least one report."""
        return sum(1 for a in self.agents if a.link.status.last_report_sequence >= 1)

    def all_reported(self) -> bool:
        return self.reported() == len(self.agents)

    def sessions(self) -> int:
        """Sessions the agents have started, all told (reconnects show as growth)."""
        return sum(a.link.status.sessions for a in self.agents)

    def start(self) -> None:
        self._tasks.append(asyncio.create_task(self._start_staggered(), name="fleet-start"))
        self._tasks.append(asyncio.create_task(self._drift(), name="fleet-drift"))

    async def _start_staggered(self) -> None:
        gap = self.spec.report_interval_s / max(1, len(self.agents))
        for agent in self.agents:
            self._tasks.append(asyncio.create_task(agent.run(), name=agent.settings.host))
            await asyncio.sleep(gap)

    async def _drift(self) -> None:
        rng = random.Random(self.spec.seed)
        while True:
            await asyncio.sleep(self.spec.report_interval_s)
            for backend in self.backends:
                if rng.random() < self.spec.drift:
                    backend.with_host(lambda host: _drift_one(host, rng, self.spec))

    async def stop(self) -> None:
        # The starter first, so that it cannot add an agent task after this point.
        starter, *rest = self._tasks
        starter.cancel()
        await asyncio.gather(starter, return_exceptions=True)
        for task in rest:
            task.cancel()
        await asyncio.gather(*rest, return_exceptions=True)
        self._tasks.clear()


@contextlib.asynccontextmanager
async def running_fleet(spec: FleetSpec, controller: str) -> AsyncIterator[Fleet]:
    fleet = Fleet(spec, controller)
    fleet.start()
    try:
        yield fleet
    finally:
        await fleet.stop()


class Sink(link_pb2_grpc.AgentLinkServicer):
    """Welcomes every agent and drops what it sends; counts hellos and reports."""

    def __init__(self, report_interval_s: float) -> None:
        self._interval = report_interval_s
        self.hellos = 0
        self.reports = 0

    async def Connect(  # type: ignore[override]
        self, request_iterator: object,
        context: grpc.aio.ServicerContext[link_pb2.AgentMessage, link_pb2.ControllerMessage],
    ) -> None:
        first = await context.read()
        if not isinstance(first, link_pb2.AgentMessage):
            return
        self.hellos += 1
        await context.write(link_pb2.ControllerMessage(welcome=link_pb2.Welcome(
            controller_id="sink", report_interval_s=self._interval)))
        while isinstance(msg := await context.read(), link_pb2.AgentMessage):
            if msg.WhichOneof("body") == "report":
                self.reports += 1


@contextlib.asynccontextmanager
async def running_sink(report_interval_s: float) -> AsyncIterator[tuple[Sink, str]]:
    """A Sink on a free loopback port, with the controller's server options."""
    defaults = ControllerSettings()
    sink = Sink(report_interval_s)
    server = grpc.aio.server(
        options=server_options(defaults.keepalive_s, defaults.max_message_bytes))
    link_pb2_grpc.add_AgentLinkServicer_to_server(sink, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield sink, f"127.0.0.1:{port}"
    finally:
        await server.stop(0.5)
