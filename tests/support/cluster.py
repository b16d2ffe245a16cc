"""A real cluster in one event loop: a Controller on loopback ports and sim agents.

Everything is the production code path — grpc.aio servers and channels on 127.0.0.1,
the EtcdStore against a real etcd — only placed in one process so that a test can stop
and start each part.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from numaplane.common.units import GiB
from numaplane.controller.server import Controller
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.store.embedded_etcd import free_port
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.sim import MemoryBinding, SimBackend, SimHost
from numaplane.hostagent.drivers.sim.driver import sim_driver
from numaplane.hostagent.drivers.sim.factory import demo_spec
from numaplane.hostagent.settings import AgentSettings


def controller_settings(endpoint: str, namespace: str, **overrides: object) -> ControllerSettings:
    base = ControllerSettings(
        admin_address=f"127.0.0.1:{free_port()}",
        link_address=f"127.0.0.1:{free_port()}",
        etcd_endpoints=(endpoint,),
        etcd_namespace=namespace,
        host_lease_ttl_s=3,
        leader_lease_ttl_s=3,
        report_interval_s=0.5,
        status_min_interval_s=0.0,
        keepalive_s=2.0,
        stop_grace_s=0.5,
    )
    return dataclasses.replace(base, **overrides)  # type: ignore[arg-type]


def sim_agent(
    host: str, controller: ControllerSettings, index: int = 0, *, vms: int = 2,
    state_dir: Path | None = None, backend: SimBackend | None = None,
) -> Agent:
    settings = AgentSettings(
        host=host,
        controller=controller.link_address,
        backend="sim",
        report_interval_s=0.5,
        backoff_initial_s=0.1,
        backoff_max_s=0.5,
        keepalive_s=2.0,
        state_dir=state_dir,
    )
    if backend is None:
        sim = SimHost(demo_spec(index, host), seed=index)
        rng = random.Random(index)
        for i in range(vms):
            node = rng.choice(sim.topology().node_ids)
            sim.start_vm(f"{host}-vm{i}", 2, 1 * GiB,
                         cpus=sim.topology().node(node).cpus,
                         binding=MemoryBinding.preferred([node]))
        sim.advance(600.0)
        backend = SimBackend(sim)
    return Agent(settings, sim_driver(backend))


class Running:
    """Agents as tasks this object owns; stop them one by one or all at once."""

    def __init__(self) -> None:
        self.tasks: dict[str, asyncio.Task[None]] = {}
        self.agents: dict[str, Agent] = {}

    def start(self, agent: Agent) -> Agent:
        self.agents[agent.settings.host] = agent
        self.tasks[agent.settings.host] = asyncio.create_task(agent.run(), name=agent.settings.host)
        return agent

    async def stop(self, host: str) -> None:
        task = self.tasks.pop(host)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    async def stop_all(self) -> None:
        for host in list(self.tasks):
            await self.stop(host)


@asynccontextmanager
async def running_agents() -> AsyncIterator[Running]:
    r = Running()
    try:
        yield r
    finally:
        await r.stop_all()


async def wait_for(
    probe: Callable[[], Awaitable[bool]], *, timeout: float = 30.0, every: float = 0.1  # noqa: ASYNC109
) -> None:
    """Poll an async condition until it holds; fail with a clear message otherwise.

    The timeout is a liveness bound for a hung test, not a performance assertion.
    """
    async with asyncio.timeout(timeout):
        while not await probe():  # noqa: ASYNC110 - the state lives in etcd, not in an Event
            await asyncio.sleep(every)


__all__ = ["Controller", "Running", "controller_settings", "running_agents", "sim_agent",
           "wait_for"]
