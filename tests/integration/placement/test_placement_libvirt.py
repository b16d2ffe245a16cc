"""The placement path through the libvirt backend: a real controller and an agent whose
backend is libvirt's test driver (`test:///default`, two NUMA cells). `vm create` ends
with a libvirt domain whose <numatune> and <vcpupin> are the placement's; `vm delete`
destroys and undefines it."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from numaplane.common.units import GiB
from numaplane.controller.state.snapshot import read_snapshot
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend
from numaplane.hostagent.drivers.registry import open_driver
from numaplane.hostagent.settings import AgentSettings
from numaplane.v1 import admin_pb2
from tests.support.cluster import Controller, controller_settings, running_agents
from tests.support.cluster import wait_for as wait_until
from tests.support.placement import Admin, states

pytest.importorskip("libvirt")

pytestmark = pytest.mark.integration


async def test_create_defines_a_bound_domain_and_delete_removes_it(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    agent_settings = AgentSettings(
        host="lv", controller=settings.link_address, backend="libvirt",
        libvirt_uri="test:///default", report_interval_s=0.5, backoff_initial_s=0.1,
        backoff_max_s=0.5, keepalive_s=2.0,
    )
    driver = open_driver(agent_settings)
    assert isinstance(driver.backend, LibvirtBackend)
    async with Controller(settings), running_agents() as agents:
        agents.start(Agent(agent_settings, driver))

        async def up() -> bool:
            snap = await read_snapshot(store)
            return "lv" in snap.hosts and snap.hosts["lv"].alive

        await wait_until(up)
        admin = Admin(settings.admin_address)
        try:
            request = admin_pb2.CreateVmRequest(name="web", vcpus=2, memory_bytes=GiB)
            assert await admin.create(request) == ""

            async def running() -> bool:
                return states(await read_snapshot(store)).get("web") == "running"

            await wait_until(running)
            snap = await read_snapshot(store)
            placement = snap.vms["web"].placement
            assert placement is not None
            p = placement.value
            dom = driver.backend.connection.lookupByName("web")
            root = ET.fromstring(dom.XMLDesc())
            memory = root.find("./numatune/memory")
            assert memory is not None and memory.get("mode") == "strict"
            assert memory.get("nodeset") == ",".join(map(str, p.nodes))
            pins = [v.get("cpuset") for v in root.findall("./cputune/vcpupin")]
            assert len(pins) == 2 and len(set(pins)) == 1
            status = snap.vms["web"].status
            assert status is not None and status.value.host == "lv"
            assert set(status.value.observed.allowed_cpus) == set(p.cpus)

            await admin.stub.DeleteVm(admin_pb2.DeleteVmRequest(name="web"))

            async def gone() -> bool:
                snap = await read_snapshot(store)
                return "web" not in snap.vms or snap.vms["web"].spec is None

            await wait_until(gone)
            names = {d.name() for d in driver.backend.connection.listAllDomains()}
            assert names == {"test"}  # the driver's own domain, nothing of ours
        finally:
            await admin.close()
