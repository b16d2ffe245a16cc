"""No overfill under concurrency: 50 `vm create` calls at once, two placement loops racing.

Real etcd, a real controller (its leader runs the placement loop), sim agents over real
gRPC — and a second placement loop on its own etcd connection, as a second replica that
still believes it leads would run. While the burst settles, the invariants of
tests/support/placement.py are checked over and over: no node ever has more claimed
plus used memory than it holds (from etcd and from the sim hosts), and nothing is
half-placed. At the end every VM either runs, on exactly one host and on the nodes its
placement names, or is pending with the reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools

import pytest

from numaplane.common.units import GiB, MiB
from numaplane.controller.placement.decide import decide, start_command
from numaplane.controller.placement.loop import PlacementLoop
from numaplane.controller.placement.transactions import claim_txn, decided
from numaplane.controller.placement.validation import validate_create
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, read_snapshot
from numaplane.controller.state.views import build_view
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.drivers.sim import SimBackend, SimHost
from numaplane.v1 import admin_pb2
from tests.support.admin_cluster import add_host, topology
from tests.support.cluster import Controller, controller_settings, running_agents, sim_agent
from tests.support.cluster import wait_for as wait_until
from tests.support.etcd import StoreFactory
from tests.support.placement import Admin, check, small_host, states

pytestmark = pytest.mark.integration

SIZES = (512 * MiB, 1 * GiB, 1536 * MiB)


async def _rogue(loop: PlacementLoop, stop: asyncio.Event) -> int:
    """A second replica's placement passes, back to back, until told to stop."""
    conflicts = 0
    while not stop.is_set():
        conflicts += (await loop.pass_once()).conflicts
        await asyncio.sleep(0.01)
    return conflicts


async def test_fifty_concurrent_creates_never_overfill_a_node(
    etcd: EmbeddedEtcd, store: EtcdStore, make_store: StoreFactory
) -> None:
    namespace = store.settings.namespace
    settings = controller_settings(etcd.endpoint, namespace, placement_retry_s=0.2)
    sims = {f"h{i}": SimBackend(small_host(f"h{i}")) for i in range(2)}  # 2x(2x4G)
    async with Controller(settings) as ctl, running_agents() as agents:
        for name, sim in sims.items():
            agents.start(sim_agent(name, settings, backend=sim))

        async def up() -> bool:
            snap = await read_snapshot(store)
            return all(h in snap.hosts and snap.hosts[h].alive for h in sims)

        await wait_until(up)
        await wait_until(lambda: _leading(ctl))
        second = await make_store(namespace=namespace)
        rogue = PlacementLoop(second, lambda: ctl.election.epoch)
        stop = asyncio.Event()
        rogue_task = asyncio.create_task(_rogue(rogue, stop), name="second-replica-placement")
        admin = Admin(settings.admin_address)
        try:
            requests = [
                admin_pb2.CreateVmRequest(
                    name=f"vm{i:02d}", vcpus=1 + i % 2, memory_bytes=SIZES[i % len(SIZES)]
                )
                for i in range(50)
            ]
            answers = await asyncio.gather(*(admin.create(r) for r in requests))
            assert answers == [""] * 50

            async def settled() -> bool:
                snap = await check(store, sims)  # the invariants, at every poll
                found = states(snap)
                if len(found) < 50 or snap.claims:
                    return False
                if not all(s in ("running", "pending") for s in found.values()):
                    return False
                # Level-triggered: a pending VM that fits is placed by a later pass.
                waiting = [snap.vms[n] for n, s in found.items() if s == "pending"]
                smallest = min((v.spec.value.memory_bytes for v in waiting if v.spec), default=0)
                return _largest_host_room(sims) < smallest

            await wait_until(settled, every=0.05)
            stop.set()
            conflicts = await rogue_task
        finally:
            stop.set()
            rogue_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await rogue_task
            await admin.close()

        snap = await check(store, sims)
        found = states(snap)
        running = sorted(n for n, s in found.items() if s == "running")
        pending = sorted(n for n, s in found.items() if s == "pending")
        assert running and pending, found
        where: dict[str, list[str]] = {}
        for host, sim in sims.items():
            for vm in sim.with_host(lambda h: h.vms()):
                if vm.state == "running" and vm.name.startswith("vm"):
                    where.setdefault(vm.name, []).append(host)
        assert sorted(where) == running, "exactly the running placements run on the hosts"
        for name in running:
            p = snap.vms[name].placement
            assert p is not None
            assert where[name] == [p.value.host], f"{name} runs once, where it was placed"
            vm = sims[p.value.host].with_host(functools.partial(SimHost.vm, name=name))
            assert set(vm.memory_by_node) <= set(p.value.nodes), "strict binding held"
        for name in pending:
            p = snap.vms[name].placement
            assert p is not None and "no host can hold" in p.value.reason
        # The hosts really are full for what is pending: no host has room left, on all its
        # nodes together, for the smallest pending VM.
        smallest = min(_memory(snap, n) for n in pending)
        assert _largest_host_room(sims) < smallest
        # And what the hosts back is exactly what was placed (8G a host, nothing else runs).
        used = sum(8 * GiB - sum(sim.with_host(SimHost.free_by_node).values())
                   for sim in sims.values())
        placed = sum(_memory(snap, n) for n in running)
        assert placed == used
        print(f"{len(running)} running, {len(pending)} pending, {conflicts} lost races "
              "in the second replica")


def _memory(snapshot: ClusterSnapshot, vm: str) -> int:
    spec = snapshot.vms[vm].spec
    assert spec is not None
    return spec.value.memory_bytes


def _largest_host_room(sims: dict[str, SimBackend]) -> int:
    """The most free memory any host has on all its nodes together."""
    return max(sum(sim.with_host(SimHost.free_by_node).values()) for sim in sims.values())


async def _leading(ctl: Controller) -> bool:
    return ctl.election.is_leader


async def test_a_claim_decided_on_a_stale_snapshot_is_refused(store: EtcdStore) -> None:
    """Two deciders read one snapshot; the first claim on a host moves its ledger, so the
    second transaction (same snapshot, same host) writes nothing at all."""
    await add_host(store, "h", topology(1), free={0: 16 * GiB}, lease=await store.grant_lease(30))
    for name in ("a", "b"):
        request = admin_pb2.CreateVmRequest(name=name, vcpus=1, memory_bytes=10 * GiB)
        spec = validate_create(request, await read_snapshot(store))
        assert await store.create(keyspace.vm_spec(name), encode(spec)) is not None
    snapshot = await read_snapshot(store)
    view = build_view(snapshot)
    txns = []
    for name in ("a", "b"):  # each decided alone on the same snapshot: both pick h
        vm = snapshot.vms[name]
        assert vm.spec is not None
        outcome = decide(vm.spec.value, snapshot, view)
        placement = outcome.decision.placement
        host = view.host("h")
        assert placement is not None and outcome.claim is not None and host is not None
        record = decided(outcome.decision, 1.0, 7)
        record.host = placement.host
        start = start_command(vm.spec.value, placement, host)
        txns.append(claim_txn(vm, snapshot, record, outcome.claim, start, 7, 1.0))
    assert await store.txn_put_many(txns[0].writes, txns[0].deletes) is not None
    assert await store.txn_put_many(txns[1].writes, txns[1].deletes) is None
    after = await read_snapshot(store)
    assert set(after.claims) == {("h", "a")}
    assert after.vms["b"].placement is None
    assert [e.value.command.start_vm.name for e in after.commands.values()] == ["a"]
    ledger = after.hosts["h"].ledger
    assert ledger is not None and ledger.value.claims_made == 1
