"""A live migration's claim on its target and the placement record after a move
(numaplane.controller.placement.move_tracking), one rule at a time on hand-written snapshots."""

from __future__ import annotations

from google.protobuf.message import Message

from numaplane.common.units import GiB
from numaplane.controller.placement.lifecycle import PlacementTimings, Remove, Wait, next_step
from numaplane.controller.placement.move_tracking import (
    ReleaseMoveClaim,
    followed_placement,
    move_claim_step,
    release_move_claim_txn,
)
from numaplane.controller.placement.transactions import release_txn
from numaplane.controller.policy.types import HostMove
from numaplane.controller.rebalance.inputs import context_of
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, snapshot_from_kvs
from numaplane.controller.store.contract import KV
from numaplane.v1 import link_pb2, state_pb2, types_pb2

T = PlacementTimings(start_timeout_s=60.0)
MOVE = "m-1"


def _kv(key: str, msg: Message, revision: int = 1) -> KV:
    return KV(key, encode(msg), revision, revision)


def _claim(created_at: float = 100.0, move: bool = True, host: str = "b") -> KV:
    return _kv(keyspace.claim(host, "v"), state_pb2.Claim(
        host=host, vm="v", memory_by_node=[types_pb2.NodeMemory(node=0, bytes=4 * GiB)],
        created_at=created_at, command_id=MOVE, move=move), revision=7)


def _entry(state: str, message: str = "", finished_at: float = 0.0) -> KV:
    cmd = link_pb2.Command(id=MOVE, epoch=1)
    cmd.live_migrate.CopyFrom(link_pb2.LiveMigrate(vm="v", target_host="b", target_nodes=[0]))
    return _kv(keyspace.command("a", MOVE), state_pb2.JournalEntry(
        id=MOVE, host="a", state=state, command=cmd, message=message, finished_at=finished_at))


def _vm_status(host: str, at: float) -> KV:
    return _kv(keyspace.vm_status("v"), state_pb2.VmStatus(
        name="v", host=host, observed_at=at, observed=types_pb2.VmObservation(
            name="v", vcpus=2, memory_bytes=4 * GiB, state="running",
            memory_by_node=[types_pb2.NodeMemory(node=0, bytes=4 * GiB)])))


def _host_status(host: str, at: float) -> KV:
    return _kv(keyspace.host_status(host), state_pb2.HostStatus(observed_at=at))


def _snap(*kvs: KV) -> ClusterSnapshot:
    return snapshot_from_kvs(kvs, 9)


def _claim_step(*kvs: KV, now: float = 110.0) -> ReleaseMoveClaim | None:
    snap = _snap(_claim(), *kvs)
    return move_claim_step(snap.claims[("b", "v")], snap, now, T)


# -- the claim on the target ----------------------------------------------------------


def test_kept_while_the_copy_runs_however_long() -> None:
    assert _claim_step(_entry("pending")) is None
    assert _claim_step(_entry("sent"), now=100.0 + 3600) is None


def test_released_once_the_target_status_counts_the_vm() -> None:
    arrived = (_entry("applied", finished_at=120.0), _vm_status("b", 130.0))
    assert _claim_step(*arrived, _host_status("b", 129.0), now=131.0) is None
    step = _claim_step(*arrived, _host_status("b", 130.0), now=131.0)
    assert step is not None and not step.cancel_command
    assert step.reason == "v runs on b and b's status counts it"


def test_a_vm_still_on_its_source_does_not_release_it() -> None:
    assert _claim_step(_entry("sent"), _vm_status("a", 130.0), _host_status("a", 131.0),
                       _host_status("b", 131.0)) is None


def test_released_when_the_migration_fails_or_its_command_is_gone() -> None:
    step = _claim_step(_entry("failed", "target refused"))
    assert step is not None and step.reason == "the live migration failed: target refused"
    step = _claim_step()
    assert step is not None and "gone from the journal" in step.reason


def test_a_never_sent_migration_times_out_like_a_start_and_is_cancelled() -> None:
    assert _claim_step(_entry("pending"), now=159.0) is None
    step = _claim_step(_entry("pending"), now=161.0)
    assert step is not None and step.cancel_command
    assert step.reason == "a did not take the live migration within 60 s"
    snap = _snap(_claim(), _entry("pending"))
    txn = release_move_claim_txn(step, snap, 161.0)
    assert txn.deletes == [(keyspace.claim("b", "v"), 7)]
    [(key, value, revision)] = txn.writes
    assert key == keyspace.command("a", MOVE) and revision == 1
    assert '"state": "failed"' in value and "cancelled: a did not take" in value


def test_an_applied_migration_not_seen_on_the_target_times_out_after_its_result() -> None:
    # Applied long after the claim was made (a long copy): the timeout counts from the
    # result, not from the claim.
    applied = _entry("applied", finished_at=500.0)
    assert _claim_step(applied, now=520.0) is None
    step = _claim_step(applied, now=561.0)
    assert step is not None and not step.cancel_command
    assert step.reason == "migrated, but v was not seen on b within 60 s of the result"


# -- the placement's rules leave a move's claim alone ---------------------------------


def _spec() -> KV:
    return _kv(keyspace.vm_spec("v"), state_pb2.VmSpec(name="v", vcpus=2, memory_bytes=4 * GiB))


def _placement(state: str = "running", **kw: object) -> KV:
    fields: dict[str, object] = {
        "name": "v", "state": state, "host": "a", "nodes": [1], "cpus": [4, 5],
        "decided_at": 50.0, "policy": "numaplane", "reasons": ["fits on a nodes 1"],
        "considered": [state_pb2.CandidateRecord(host="a", nodes=[1], score=1.0)],
        "memory_by_node": [types_pb2.NodeMemory(node=1, bytes=4 * GiB)],
    }
    fields.update(kw)
    return _kv(keyspace.vm_placement("v"),
               state_pb2.VmPlacement(**fields))  # type: ignore[arg-type]


def test_a_vm_without_spec_keeps_its_move_claim() -> None:
    snap = _snap(_claim(), _entry("sent"), _vm_status("a", 100.0))
    assert next_step(snap.vms["v"], snap, 110.0, T) == Wait("not managed by numaplane")
    # A start's claim of a spec-less VM is still removed, as before.
    snap = _snap(_claim(move=False), _vm_status("a", 100.0))
    assert next_step(snap.vms["v"], snap, 110.0, T) == Remove("its spec is gone")


def test_releasing_a_start_keeps_a_move_claim() -> None:
    snap = _snap(_spec(), _placement("starting"), _claim(),
                 _claim(move=False, host="a"), _entry("sent"))
    txn = release_txn(snap.vms["v"], snap, "failed", "why", now=1.0)
    assert [key for key, _ in txn.deletes] == [keyspace.claim("a", "v")]


def test_a_starting_or_stopping_vm_is_busy_for_the_rebalancer() -> None:
    assert "v" in context_of(_snap(_spec(), _placement("starting"))).busy
    assert "v" not in context_of(_snap(_spec(), _placement("running"))).busy


# -- the placement record follows an applied move --------------------------------------


def _move(kind: str = "live-migrate", *, manual: bool = False, at: float = 100.0) -> KV:
    return _kv(keyspace.vm_move("v"), state_pb2.VmMove(
        vm="v", host="a", kind=kind, to_host="b" if kind == "live-migrate" else "",
        to_nodes=[0], reason="operator: live-migrate v" if manual else "a is short of memory",
        at=at, command_id=MOVE, manual=manual))


def _info(host: str) -> KV:
    topo = types_pb2.Topology(nodes=[
        types_pb2.NumaNode(id=0, cpus=[0, 1], memory_total_bytes=8 * GiB),
        types_pb2.NumaNode(id=1, cpus=[2, 3], memory_total_bytes=8 * GiB),
    ])
    return _kv(keyspace.host_info(host), state_pb2.HostInfo(host=host, topology=topo))


def _followed(*kvs: KV) -> state_pb2.VmPlacement | None:
    snap = _snap(*kvs)
    return followed_placement(snap.vms["v"], snap, 200.0)


def test_a_live_migration_applied_moves_the_record_and_keeps_the_decision() -> None:
    p = _followed(_spec(), _placement(), _move(), _entry("applied"), _info("b"))
    assert p is not None
    assert (p.host, list(p.nodes), list(p.cpus)) == ("b", [0], [0, 1])
    assert p.reason == "moved by the rebalancer: a is short of memory"
    assert (p.moved_by, p.updated_at, p.state) == (MOVE, 200.0, "running")
    assert not p.memory_by_node
    # The decision's history stays.
    assert (list(p.reasons), p.policy, p.decided_at) == (["fits on a nodes 1"], "numaplane", 50.0)
    assert [c.host for c in p.considered] == ["a"]


def test_an_operators_memory_move_changes_the_nodes_only() -> None:
    p = _followed(_spec(), _placement(), _move("migrate-memory", manual=True),
                  _entry("applied"), _info("a"))
    assert p is not None
    assert (p.host, list(p.nodes), list(p.cpus)) == ("a", [0], [0, 1])
    assert p.reason == "moved by the operator: live-migrate v"


def test_a_vcpu_rebinding_changes_the_cpus_only() -> None:
    """The rebalancer's affinity change binds the vCPUs to node 0's CPUs; the memory's
    binding (the record's nodes, and the start's split) is not touched by it."""
    p = _followed(_spec(), _placement(), _move("set-vcpu-affinity"),
                  _entry("applied"), _info("a"))
    assert p is not None
    assert (p.host, list(p.nodes), list(p.cpus)) == ("a", [1], [0, 1])
    assert [(m.node, m.bytes) for m in p.memory_by_node] == [(1, 4 * GiB)]
    assert (p.moved_by, p.reason) == (MOVE, "moved by the rebalancer: a is short of memory")


def test_nothing_to_follow() -> None:
    base = (_spec(), _move(), _info("b"))
    for entry_state in ("pending", "sent", "failed"):
        assert _followed(*base, _placement(), _entry(entry_state)) is None
    assert _followed(*base, _placement(moved_by=MOVE), _entry("applied")) is None
    assert _followed(*base, _placement("starting"), _entry("applied")) is None
    # The move came before this placement's decision (same name, a VM created again).
    assert _followed(_spec(), _placement(decided_at=150.0), _move(), _entry("applied")) is None
    # A VM numaplane only observes has no placement record to rewrite.
    assert _followed(_vm_status("b", 1.0), _move(), _entry("applied")) is None


# -- what a host move claims -------------------------------------------------------------


def test_a_host_move_claims_the_planned_split_or_an_even_one() -> None:
    planned = HostMove(vm="v", host="a", to_host="b", to_nodes=(0, 1), bytes_to_move=5,
                       reason="r", arrival=((0, 4), (1, 1)))
    assert planned.arrival_by_node() == {0: 4, 1: 1}
    even = HostMove(vm="v", host="a", to_host="b", to_nodes=(1, 0), bytes_to_move=5, reason="r")
    assert even.arrival_by_node() == {0: 3, 1: 2}
