"""A VM's placement end to end: real etcd, a real controller, sim agents over real gRPC.

create -> claimed and started -> running (claim released) -> deleted (stopped, records
gone); a VM that fits nowhere stays pending with its reason and is placed when room
appears; cordoned and draining hosts take no new VM; explain tells why.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest

from numaplane.common.units import GiB
from numaplane.controller.state import keyspace
from numaplane.controller.state.snapshot import read_snapshot
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.drivers.sim import SimBackend
from numaplane.v1 import admin_pb2
from tests.support.cluster import Controller, controller_settings, running_agents, sim_agent
from tests.support.cluster import wait_for as wait_until
from tests.support.placement import Admin, check, small_host, states

pytestmark = pytest.mark.integration


@dataclass
class Cluster:
    ctl: Controller
    admin: Admin
    store: EtcdStore
    sims: dict[str, SimBackend]

    async def state(self, vm: str) -> str:
        return states(await read_snapshot(self.store)).get(vm, "")

    async def wait_state(self, vm: str, state: str) -> None:
        async def reached() -> bool:
            await check(self.store, self.sims)
            return await self.state(vm) == state

        await wait_until(reached)


@asynccontextmanager
async def cluster(etcd: EmbeddedEtcd, store: EtcdStore, hosts: int = 2) -> AsyncIterator[Cluster]:
    settings = controller_settings(
        etcd.endpoint, store.settings.namespace, placement_retry_s=0.2
    )
    sims = {f"h{i}": SimBackend(small_host(f"h{i}")) for i in range(hosts)}
    async with Controller(settings) as ctl, running_agents() as agents:
        for name, sim in sims.items():
            agents.start(sim_agent(name, settings, backend=sim))

        async def all_up() -> bool:
            snap = await read_snapshot(store)
            return all(h in snap.hosts and snap.hosts[h].alive for h in sims)

        await wait_until(all_up)
        admin = Admin(settings.admin_address)
        try:
            yield Cluster(ctl, admin, store, sims)
        finally:
            await admin.close()


def vm(name: str, vcpus: int, memory: int) -> admin_pb2.CreateVmRequest:
    return admin_pb2.CreateVmRequest(name=name, vcpus=vcpus, memory_bytes=memory)


async def placed_on(store: EtcdStore, name: str) -> str:
    placement = (await read_snapshot(store)).vms[name].placement
    assert placement is not None
    return placement.value.host


async def test_create_runs_on_the_chosen_nodes_then_delete_removes_it(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with cluster(etcd, store) as c:
        assert await c.admin.create(vm("web", 2, 3 * GiB)) == ""
        await c.wait_state("web", "running")
        snap = await read_snapshot(store)
        p = snap.vms["web"].placement
        assert p is not None
        placement = p.value
        assert placement.policy == "numaplane" and len(placement.nodes) == 1
        assert not snap.claims, "the claim is released once the VM runs"
        sim = c.sims[placement.host]
        started = sim.with_host(lambda h: h.vm("web"))
        assert started.memory_by_node == {placement.nodes[0]: 3 * GiB}
        assert set(started.allowed_cpus) == set(placement.cpus)

        explained = await c.admin.stub.ExplainVm(admin_pb2.ExplainVmRequest(name="web"))
        assert explained.state == "running" and explained.policy == "numaplane"
        assert explained.host == placement.host and list(explained.nodes) == [placement.nodes[0]]
        assert explained.considered[0].host == placement.host
        assert explained.considered[0].has_score
        assert any("fewest nodes" in r for r in explained.reasons)

        await c.admin.stub.DeleteVm(admin_pb2.DeleteVmRequest(name="web"))

        async def gone() -> bool:
            snap = await read_snapshot(store)
            return "web" not in snap.vms or snap.vms["web"].spec is None

        await wait_until(gone)
        assert not sim.with_host(lambda h: h.has_vm("web"))
        assert not (await read_snapshot(store)).claims


async def test_what_fits_nowhere_stays_pending_until_room_appears(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with cluster(etcd, store, hosts=1) as c:
        assert await c.admin.create(vm("big", 4, 7 * GiB)) == ""
        await c.wait_state("big", "running")
        assert await c.admin.create(vm("more", 2, 3 * GiB)) == ""
        await c.wait_state("more", "pending")
        listed = await c.admin.stub.ListVms(admin_pb2.ListVmsRequest())
        [more] = [v for v in listed.vms if v.name == "more"]
        assert more.state == "pending" and "no host can hold 3G" in more.reason
        shown = await c.admin.stub.GetVm(admin_pb2.GetVmRequest(name="more"))
        assert shown.state == "pending" and shown.observed.memory_bytes == 3 * GiB
        explained = await c.admin.stub.ExplainVm(admin_pb2.ExplainVmRequest(name="more"))
        assert explained.state == "pending" and explained.considered
        assert explained.reason == more.reason
        # Only the reservation (none) would fit: numaplane would overcommit, the
        # reconciler does not start a VM that guarantees nothing in a crumb of memory.
        assert "without a reservation" in explained.reason

        await c.admin.stub.DeleteVm(admin_pb2.DeleteVmRequest(name="big"))
        await c.wait_state("more", "running")


async def test_cordoned_and_draining_hosts_take_no_new_vm(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    async with cluster(etcd, store) as c:
        schedule = c.admin.stub.SetHostSchedule
        reply = await schedule(admin_pb2.SetHostScheduleRequest(host="h0", action="cordon"))
        assert reply.cordoned and not reply.draining
        for i in range(3):
            assert await c.admin.create(vm(f"a{i}", 1, GiB)) == ""
        for i in range(3):
            await c.wait_state(f"a{i}", "running")
        assert {await placed_on(store, f"a{i}") for i in range(3)} == {"h1"}

        await schedule(admin_pb2.SetHostScheduleRequest(host="h1", action="drain"))
        assert await c.admin.create(vm("b", 1, GiB)) == ""
        await c.wait_state("b", "pending")
        explained = await c.admin.stub.ExplainVm(admin_pb2.ExplainVmRequest(name="b"))
        rejected = {cand.host: cand.rejected for cand in explained.considered}
        assert rejected == {
            "h0": "not schedulable (state cordoned)",
            "h1": "not schedulable (state draining)",
        }
        # Draining moves nothing by itself (rebalancing does): a0..a2 stay on h1.
        assert await c.state("a0") == "running" and await placed_on(store, "a0") == "h1"

        reply = await schedule(admin_pb2.SetHostScheduleRequest(host="h0", action="uncordon"))
        assert not reply.cordoned
        await c.wait_state("b", "running")
        assert await placed_on(store, "b") == "h0"
        assert keyspace.host_schedule("h0") not in {
            kv.key for kv in (await store.get_prefix(keyspace.HOSTS))[0]
        }
