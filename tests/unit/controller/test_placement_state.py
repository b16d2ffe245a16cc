"""The placement state machine (numaplane.controller.placement.lifecycle), one transition at a
time."""

from __future__ import annotations

from google.protobuf.message import Message

from numaplane.common.units import GiB
from numaplane.controller.placement.lifecycle import (
    RETRY_MARK,
    Decide,
    MarkResident,
    PlacementTimings,
    Release,
    Remove,
    Stop,
    Wait,
    next_step,
)
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import ClusterSnapshot, snapshot_from_kvs
from numaplane.controller.store.contract import KV
from numaplane.v1 import link_pb2, state_pb2, types_pb2

T = PlacementTimings(start_timeout_s=60.0, retry_s=5.0, retry_max_s=40.0)
CMD = "c-1"


def _kv(key: str, msg: Message) -> KV:
    return KV(key, encode(msg), 1, 1)


def _spec(deleted: bool = False) -> KV:
    return _kv(keyspace.vm_spec("v"), state_pb2.VmSpec(name="v", vcpus=2,
                                                       memory_bytes=2 * GiB, deleted=deleted))


def _placement(state: str, **kw: object) -> KV:
    fields: dict[str, object] = {"name": "v", "state": state, "host": "h", "nodes": [0],
                                 "command_id": CMD, "decided_at": 100.0}
    fields.update(kw)
    return _kv(keyspace.vm_placement("v"), state_pb2.VmPlacement(**fields))  # type: ignore[arg-type]


def _claim() -> KV:
    return _kv(keyspace.claim("h", "v"), state_pb2.Claim(
        host="h", vm="v", memory_by_node=[types_pb2.NodeMemory(node=0, bytes=2 * GiB)]))


def _entry(state: str, message: str = "", kind: str = "start_vm",
           finished_at: float = 0.0) -> KV:
    cmd = link_pb2.Command(id=CMD, epoch=1)
    if kind == "start_vm":
        cmd.start_vm.name = "v"
    else:
        cmd.stop_vm.name = "v"
    return _kv(keyspace.command("h", CMD), state_pb2.JournalEntry(
        id=CMD, host="h", state=state, command=cmd, message=message, finished_at=finished_at))


def _vm_status(memory: int, at: float, host: str = "h") -> KV:
    return _kv(keyspace.vm_status("v"), state_pb2.VmStatus(
        name="v", host=host, observed_at=at, observed=types_pb2.VmObservation(
            name="v", vcpus=2, memory_bytes=2 * GiB, state="running",
            memory_by_node=[types_pb2.NodeMemory(node=0, bytes=memory)])))


def _host_status(at: float) -> KV:
    return _kv(keyspace.host_status("h"), state_pb2.HostStatus(observed_at=at))


def _step(*kvs: KV, now: float = 110.0) -> object:
    snapshot: ClusterSnapshot = snapshot_from_kvs(kvs, 9)
    return next_step(snapshot.vms["v"], snapshot, now, T)


def test_a_new_or_pending_vm_is_decided() -> None:
    assert _step(_spec()) == Decide("new")
    assert _step(_spec(), _placement("pending", host="", command_id="")) == Decide(
        "still pending")


def test_a_start_the_host_refused_for_room_is_retried_other_failures_are_not() -> None:
    step = _step(_spec(), _placement("starting"), _claim(),
                 _entry("failed", "no room: nodes 0 of h have 1G free for 2G"))
    assert isinstance(step, Release) and step.state == "failed"
    assert step.reason == RETRY_MARK + "start on h failed: no room: nodes 0 of h have 1G " \
                                       "free for 2G"
    step = _step(_spec(), _placement("starting"), _claim(), _entry("failed", "disk missing"))
    assert isinstance(step, Release) and step.reason == "start on h failed: disk missing"


def test_the_claim_is_released_only_once_the_host_status_shows_the_vm() -> None:
    base = (_spec(), _placement("starting"), _claim(), _entry("applied"))
    # Resident, host status as new: running.
    step = _step(*base, _vm_status(2 * GiB, 105.0), _host_status(105.0))
    assert isinstance(step, Release) and step.state == "running" and not step.cancel_command
    # Resident, host status older: remember when, keep the claim.
    assert _step(*base, _vm_status(2 * GiB, 105.0), _host_status(104.0)) == MarkResident(105.0)
    # Remembered; a later host status releases it even if the VM status moved on.
    later = (_spec(), _placement("starting", resident_at=105.0), _claim(), _entry("applied"))
    step = _step(*later, _vm_status(2 * GiB, 109.0), _host_status(106.0))
    assert isinstance(step, Release) and step.state == "running"
    # Not all resident yet: keep waiting.
    assert isinstance(_step(*base, _vm_status(GiB, 105.0), _host_status(105.0)), Wait)
    # Observed on another host (not this placement's): not it.
    assert isinstance(_step(*base, _vm_status(2 * GiB, 105.0, host="g"), _host_status(105.0)),
                      Wait)


def test_timeouts_cancel_only_what_was_never_sent() -> None:
    late = 100.0 + T.start_timeout_s + 1
    base = (_spec(), _placement("starting"), _claim())
    step = _step(*base, _entry("pending"), now=late)
    assert isinstance(step, Release) and step.cancel_command
    assert step.reason.startswith(RETRY_MARK + "h did not take the start command")
    assert isinstance(_step(*base, _entry("sent"), now=late), Wait)  # the claim is kept
    step = _step(*base, _entry("applied"), _vm_status(GiB, 150.0), _host_status(150.0),
                 now=late)
    assert isinstance(step, Release) and step.state == "running"
    assert "only 1G of 2G was resident" in step.reason
    step = _step(*base, _entry("applied"), now=late)
    assert isinstance(step, Release) and step.state == "failed"
    assert not step.reason.startswith(RETRY_MARK)
    assert isinstance(_step(*base, _entry("pending"), now=150.0), Wait)  # not yet


def test_retryable_failures_back_off() -> None:
    failed = _placement("failed", reason=RETRY_MARK + "no room", updated_at=100.0, attempts=3)
    assert T.retry_delay(1) == 5.0 and T.retry_delay(3) == 20.0 and T.retry_delay(9) == 40.0
    assert isinstance(_step(_spec(), failed, now=119.0), Wait)
    assert _step(_spec(), failed, now=120.0) == Decide("retry")
    final = _placement("failed", reason="disk missing", updated_at=0.0)
    assert isinstance(_step(_spec(), final, now=1e9), Wait)


def test_deletion_stops_then_removes() -> None:
    assert _step(_spec(deleted=True)) == Remove("deleted before it was placed")
    assert _step(_spec(deleted=True), _placement("starting"), _claim()) == Stop("h")
    # Observed elsewhere (moved by rebalancing): stopped where it runs.
    assert _step(_spec(deleted=True), _placement("running"),
                 _vm_status(2 * GiB, 1.0, host="g")) == Stop("g")
    stopping = (_spec(deleted=True), _placement("stopping"))
    assert isinstance(_step(*stopping, _entry("sent", kind="stop_vm")), Wait)
    assert isinstance(_step(*stopping, _entry("applied", kind="stop_vm")), Remove)
    failed = _entry("failed", "libvirt said no", kind="stop_vm", finished_at=108.0)
    assert isinstance(_step(*stopping, failed, now=110.0), Wait)
    assert _step(*stopping, failed, now=113.0) == Stop("h")
    assert _step(_spec(deleted=True), _placement("failed", reason="x")) == Remove(
        "deleted after its start failed")
    # A placement left without its spec is cleaned up.
    assert _step(_placement("running")) == Remove("its spec is gone")
