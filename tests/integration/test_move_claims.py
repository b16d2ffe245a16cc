"""A live migration holds its room on the target, and the placement record follows it.

Real etcd; the cluster is written straight into the store (as the link servicer writes
it) and the agent's side of the journal is played by hand (`journal.mark_sent`,
`journal.record_result`, the VM's and hosts' status records), so every step is a pass of
the production loops: `RebalanceLoop.manual_move` (what `numaplane vm migrate --host`
becomes) and `PlacementLoop.pass_once`.

Two one-node hosts of 16G: `a` holds `mover` (10G) and has 6G left; `b` is empty. A
10G newcomer fits on `b` only — and only if `mover` is not on its way there.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest

from numaplane.common.units import GiB
from numaplane.controller.placement.decide import decide, start_command
from numaplane.controller.placement.lifecycle import PlacementTimings
from numaplane.controller.placement.loop import PlacementLoop
from numaplane.controller.placement.transactions import claim_txn, decided
from numaplane.controller.placement.validation import validate_create
from numaplane.controller.rebalance.commands import command_for, move_record, target_claim
from numaplane.controller.rebalance.inputs import read_inputs
from numaplane.controller.rebalance.journaling import TargetClaim, journal_move
from numaplane.controller.rebalance.loop import RebalanceLoop, manual_action
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.state.snapshot import ClusterSnapshot, read_snapshot
from numaplane.controller.state.views import build_view
from numaplane.controller.store import Lease
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import admin_pb2, link_pb2
from numaplane.v1.state_pb2 import CommandRequest, HostInfo, HostStatus, VmPlacement
from numaplane.v1.types_pb2 import NodeFree
from tests.support.admin_cluster import add_host, topology, vm_status

pytestmark = pytest.mark.integration

EPOCH = 3
DECISION_REASONS = ["a node 0 has room for 10G", "first fit"]


class Cluster:
    """The two hosts, `mover` running on `a` with its placement, and the loops on one clock."""

    def __init__(self, store: EtcdStore) -> None:
        self.store = store
        self.now = [1000.0]
        clock = lambda: self.now[0]  # noqa: E731
        self.rebalance = RebalanceLoop(store, lambda: EPOCH, clock=clock)
        self.placement = PlacementLoop(
            store, lambda: EPOCH, PlacementTimings(start_timeout_s=60, retry_s=5), clock=clock
        )

    async def start(self) -> None:
        lease = await self.store.grant_lease(30)
        await _host(self.store, "a", free=6 * GiB, lease=lease)
        await _host(self.store, "b", free=16 * GiB, lease=lease)
        await self.running_vm("mover", 10 * GiB)

    async def running_vm(self, name: str, size: int) -> None:
        """A VM with a spec, placed on `a` node 0 (running) and observed there."""
        await self.create(name, size)
        placement = VmPlacement(
            name=name, state="running", policy="numaplane", host="a", nodes=[0],
            cpus=[0, 1, 2, 3], reasons=DECISION_REASONS, decided_at=self.now[0] - 100,
            reason="running on a nodes 0 (10G); claim released",
        )  # fmt: skip
        await self.store.put(keyspace.vm_placement(name), encode(placement))
        await self.store.put(keyspace.vm_status(name),
                             encode(vm_status(name, "a", {0: size}, running_cpus=(0, 1))))

    async def create(self, name: str, size: int) -> None:
        request = admin_pb2.CreateVmRequest(name=name, vcpus=2, memory_bytes=size)
        spec = validate_create(request, await read_snapshot(self.store), now=self.now[0])
        assert await self.store.create(keyspace.vm_spec(name), encode(spec)) is not None

    async def request_move(self, vm: str, host: str) -> tuple[CommandRequest, int]:
        """An operator's `numaplane vm migrate VM --host HOST`, as the admin API records it."""
        req = CommandRequest(
            id=uuid.uuid4().hex, host="a", kind="live-migrate",
            payload=json.dumps({"vm": vm, "host": host}), requested_at=self.now[0],
        )  # fmt: skip
        revision = await self.store.create(keyspace.request(req.id), encode(req))
        assert revision is not None
        return req, revision

    async def migrate(self, vm: str = "mover", host: str = "b") -> str:
        """Journal the move; its command id."""
        req, revision = await self.request_move(vm, host)
        assert await self.rebalance.manual_move(req, revision)
        kv = await self.store.get(keyspace.request(req.id))
        assert kv is not None
        return decode(CommandRequest, kv.value).command_id

    async def report(self, host: str, *, vm_at: float, host_at: float, free: int) -> None:
        """`mover` observed on `host` at vm_at; `host`'s own status at host_at."""
        status = vm_status("mover", host, {0: 10 * GiB}, running_cpus=(0, 1))
        status.observed_at = vm_at
        await self.store.put(keyspace.vm_status("mover"), encode(status))
        await _host_status(self.store, host, free, host_at)


async def _host(store: EtcdStore, name: str, *, free: int, lease: Lease) -> None:
    await add_host(store, name, topology(1), free={0: free}, lease=lease)
    kv = await store.get(keyspace.host_info(name))
    assert kv is not None
    info = decode(HostInfo, kv.value)
    info.capabilities.live_migration = True
    await store.put(keyspace.host_info(name), encode(info))


async def _host_status(store: EtcdStore, host: str, free: int, at: float) -> None:
    status = HostStatus(node_free=[NodeFree(node=0, free_bytes=free)], observed_at=at,
                        report_sequence=2)
    await store.put(keyspace.host_status(host), encode(status))


def _placement(snap: ClusterSnapshot, vm: str) -> VmPlacement:
    found = snap.vms[vm].placement
    assert found is not None
    return found.value


@pytest.fixture
async def cluster(store: EtcdStore) -> Cluster:
    c = Cluster(store)
    await c.start()
    return c


# -- (a) the claim, and the races it settles ----------------------------------------------


async def test_a_host_move_claims_its_room_on_the_target(cluster: Cluster) -> None:
    command_id = await cluster.migrate()
    snap = await read_snapshot(cluster.store)
    claim = snap.claims[("b", "mover")].value
    assert claim.move and claim.command_id == command_id and claim.epoch == EPOCH
    assert [(nm.node, nm.bytes) for nm in claim.memory_by_node] == [(0, 10 * GiB)]
    ledger = snap.hosts["b"].ledger
    assert ledger is not None and ledger.value.claims_made == 1
    assert ledger.value.last_vm == "mover"
    # Written together with the command and the move record.
    assert snap.commands[command_id].value.command.live_migrate.target_host == "b"
    assert snap.moves["mover"].value.command_id == command_id
    # Every later decision counts it.
    b = build_view(snap).host("b")
    assert b is not None and b.available_bytes(0) == 6 * GiB


async def test_a_start_decided_before_the_move_committed_loses_and_waits(
    cluster: Cluster,
) -> None:
    """The placement decision read `b` empty; the migration's claim commits first and
    moves b's ledger, so the start's transaction writes nothing; decided again, the
    newcomer finds no room (b would otherwise hold 20G on a 16G node)."""
    await cluster.create("newcomer", 10 * GiB)
    snapshot = await read_snapshot(cluster.store)
    view = build_view(snapshot)
    vm = snapshot.vms["newcomer"]
    assert vm.spec is not None
    outcome = decide(vm.spec.value, snapshot, view)
    placement, host = outcome.decision.placement, view.host("b")
    assert placement is not None and placement.host == "b" and outcome.claim is not None
    assert host is not None
    record = decided(outcome.decision, cluster.now[0], EPOCH)
    record.host = placement.host
    start = start_command(vm.spec.value, placement, host)
    txn = claim_txn(vm, snapshot, record, outcome.claim, start, EPOCH, cluster.now[0])

    await cluster.migrate()
    assert await cluster.store.txn_put_many(txn.writes, txn.deletes) is None

    result = await cluster.placement.pass_once()
    assert result.claimed == [] and result.waiting == ["newcomer"]
    snap = await read_snapshot(cluster.store)
    assert set(snap.claims) == {("b", "mover")}
    assert _placement(snap, "newcomer").state == "pending"


async def test_a_move_planned_before_a_start_committed_loses(cluster: Cluster) -> None:
    """The other order: the move was planned from a read taken before the newcomer's
    claim on `b`; its transaction (guarded by b's ledger as read) writes nothing."""
    req, _ = await cluster.request_move("mover", "b")
    stale = await read_inputs(cluster.store, cluster.now[0])
    await cluster.create("newcomer", 10 * GiB)
    assert (await cluster.placement.pass_once()).claimed == ["newcomer"]

    action = manual_action(req, stale)
    cmd = command_for(action, EPOCH, stale.settings, stale.view)
    claim = target_claim(action, cmd, cluster.now[0])
    assert claim is not None
    target = TargetClaim(claim, stale.snapshot.hosts["b"].ledger)
    committed = await journal_move(
        cluster.store, "a", cmd, move_record(action, cmd, cluster.now[0]), 0, target=target
    )
    assert committed is None
    snap = await read_snapshot(cluster.store)
    assert set(snap.claims) == {("b", "newcomer")}
    assert cmd.id not in snap.commands and "mover" not in snap.moves


async def test_a_second_move_to_the_target_counts_the_first_ones_claim(
    cluster: Cluster,
) -> None:
    await cluster.migrate()
    await cluster.running_vm("second", 7 * GiB)  # 7G: b has 6G once mover's 10G is claimed
    req, revision = await cluster.request_move("second", "b")
    assert not await cluster.rebalance.manual_move(req, revision)
    snap = await read_snapshot(cluster.store)
    [entry] = [e.value for e in snap.commands.values() if e.value.request_id == req.id]
    assert entry.state == "failed"
    assert "host b has no node set with room for second" in entry.message
    assert set(snap.claims) == {("b", "mover")}


# -- (b) the claim released; (c) the placement record follows ---------------------------


async def test_the_vm_running_on_the_target_releases_the_claim_and_moves_its_placement(
    cluster: Cluster,
) -> None:
    command_id = await cluster.migrate()
    assert await journal.mark_sent(cluster.store, "a", command_id)
    cluster.now[0] += 3600  # the copy takes its time: a sent migration keeps its claim
    result = await cluster.placement.pass_once()
    assert result.moves_released == [] and result.followed == []
    snap = await read_snapshot(cluster.store)
    assert ("b", "mover") in snap.claims
    assert _placement(snap, "mover").host == "a"

    finished = time.time()
    assert await journal.record_result(
        cluster.store, "a", link_pb2.CommandResult(id=command_id, ok=True, finished_at=finished)
    )
    # Seen on b, but b's own status is older: its free memory does not count mover yet.
    await cluster.report("b", vm_at=finished + 1, host_at=finished, free=16 * GiB)
    result = await cluster.placement.pass_once()
    assert result.followed == ["mover"] and result.moves_released == []
    snap = await read_snapshot(cluster.store)
    assert ("b", "mover") in snap.claims
    p = _placement(snap, "mover")
    assert (p.state, p.host, list(p.nodes), list(p.cpus)) == ("running", "b", [0], [0, 1, 2, 3])
    assert p.reason == "moved by the operator: live-migrate mover (10G) to b nodes 0"
    assert p.moved_by == command_id
    assert list(p.reasons) == DECISION_REASONS and p.policy == "numaplane"

    await cluster.report("b", vm_at=finished + 1, host_at=finished + 2, free=6 * GiB)
    result = await cluster.placement.pass_once()
    assert result.moves_released == ["mover"] and result.followed == []
    snap = await read_snapshot(cluster.store)
    assert not snap.claims
    assert _placement(snap, "mover").host == "b"


async def test_a_failed_migration_releases_the_claim_and_keeps_the_placement(
    cluster: Cluster,
) -> None:
    command_id = await cluster.migrate()
    assert await journal.mark_sent(cluster.store, "a", command_id)
    assert await journal.record_result(
        cluster.store, "a",
        link_pb2.CommandResult(id=command_id, ok=False, message="b refused the connection"),
    )  # fmt: skip
    result = await cluster.placement.pass_once()
    assert result.moves_released == ["mover"] and result.followed == []
    snap = await read_snapshot(cluster.store)
    assert not snap.claims
    p = _placement(snap, "mover")
    assert (p.host, list(p.nodes), p.moved_by) == ("a", [0], "")


async def test_a_migration_never_sent_times_out_like_a_start(cluster: Cluster) -> None:
    command_id = await cluster.migrate()
    cluster.now[0] += 59
    result = await cluster.placement.pass_once()
    assert result.moves_released == [] and result.timed
    cluster.now[0] += 2  # past the placement's start timeout: released and cancelled
    result = await cluster.placement.pass_once()
    assert result.moves_released == ["mover"]
    snap = await read_snapshot(cluster.store)
    assert not snap.claims
    entry = snap.commands[command_id].value
    assert entry.state == "failed"
    assert entry.message == "cancelled: a did not take the live migration within 60 s"
    assert not await journal.mark_sent(cluster.store, "a", command_id)  # never sent now
