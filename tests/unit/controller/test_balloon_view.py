"""From stored records to balloon facts: bounds of spec-less VMs, the current target, the
policy's input, and the refusals of SetBalloon (pure parts of the controller side)."""

from __future__ import annotations

import grpc
import pytest

from numaplane.common.units import GiB, MiB
from numaplane.controller.admin.refused import Refused
from numaplane.controller.balloon.admin import check_target
from numaplane.controller.balloon.inputs import (
    VmBalloon,
    balloon_hosts,
    balloon_intents,
    vm_balloons,
)
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import Versioned, snapshot_from_kvs
from numaplane.controller.store.contract import KV
from numaplane.v1.link_pb2 import Command, SetBalloon
from numaplane.v1.state_pb2 import (
    BalloonIntent,
    HostInfo,
    HostStatus,
    JournalEntry,
    VmSpec,
    VmStatus,
)
from numaplane.v1.types_pb2 import (
    BalloonState,
    DistanceRow,
    NodeFree,
    NodeMemory,
    NumaNode,
    Topology,
    VmObservation,
)


def topology(nodes: int) -> Topology:
    """`nodes` nodes of 2 CPUs and 16 GiB."""
    return Topology(
        nodes=[NumaNode(id=i, cpus=[2 * i, 2 * i + 1], memory_total_bytes=16 * GiB,
                        memory_free_bytes=16 * GiB) for i in range(nodes)],
        distances=[DistanceRow(distances=[10 if i == j else 21 for j in range(nodes)])
                   for i in range(nodes)],
    )


def status(name: str, host: str = "h", *, target: int = 2 * GiB, known: bool = True,
           observed_at: float = 100.0) -> VmStatus:
    balloon = BalloonState(known=known, target_bytes=target, actual_bytes=target,
                           max_bytes=4 * GiB, driver="sim", has_guest_stats=True,
                           guest_free_bytes=0, guest_available_bytes=target,
                           guest_usable_bytes=GiB)
    obs = VmObservation(id=name, name=name, vcpus=1, memory_bytes=4 * GiB, state="running",
                        memory_by_node=[NodeMemory(node=0, bytes=target)], balloon=balloon)
    return VmStatus(name=name, host=host, observed=obs, observed_at=observed_at)


def command(vm: str, target: int, state: str, finished_at: float, cid: str) -> JournalEntry:
    cmd = Command(id=cid, epoch=1, set_balloon=SetBalloon(vm=vm, target_bytes=target))
    return JournalEntry(id=cid, host="h", state=state, command=cmd, finished_at=finished_at)


def test_a_vm_without_a_spec_has_the_documented_defaults() -> None:
    vm = VmBalloon("found", status("found"))
    assert (vm.reservation_bytes, vm.limit_bytes, vm.ceiling_bytes, vm.shares, vm.auto) == (
        0, None, 4 * GiB, 1000, False)
    intent = Versioned(BalloonIntent(vm="found", auto=True, target_bytes=GiB), 7)
    vm = VmBalloon("found", status("found"), intent=intent)
    assert vm.auto and vm.requested_bytes == GiB


def test_the_spec_carries_bounds_and_intent_when_there_is_one() -> None:
    spec = Versioned(VmSpec(name="v", reservation_bytes=GiB, limit_bytes=3 * GiB, shares=2000,
                            balloon_auto=True, balloon_target_bytes=0), 3)
    intent = Versioned(BalloonIntent(vm="v", auto=False, target_bytes=2 * GiB), 4)
    vm = VmBalloon("v", status("v"), spec=spec, intent=intent)
    assert (vm.reservation_bytes, vm.limit_bytes, vm.ceiling_bytes, vm.shares) == (
        GiB, 3 * GiB, 3 * GiB, 2000)
    assert vm.auto and vm.requested_bytes == 0  # the spec wins over a stray intent


def test_current_target_follows_an_applied_command_the_status_has_not_caught_up_with() -> None:
    observed = status("v", target=2 * GiB, observed_at=100.0)
    newer = command("v", 1 * GiB, "applied", 150.0, "2")
    older = command("v", 1 * GiB, "applied", 50.0, "1")
    failed = command("v", 1 * GiB, "failed", 150.0, "3")
    assert VmBalloon("v", observed).current_target == 2 * GiB
    assert VmBalloon("v", observed, command=newer).current_target == 1 * GiB
    assert VmBalloon("v", observed, command=older).current_target == 2 * GiB
    assert VmBalloon("v", observed, command=failed).current_target == 2 * GiB
    assert VmBalloon("v", observed, command=command("v", GiB, "sent", 0, "4")).command_open


def kv(key: str, value: str, rev: int = 1) -> KV:
    return KV(key, value, rev, rev)


def test_inputs_come_from_up_hosts_and_known_balloons() -> None:
    info = HostInfo(host="h", topology=topology(2))
    st = HostStatus(node_free=[NodeFree(node=0, free_bytes=GiB), NodeFree(node=1, free_bytes=0)])
    kvs = [
        kv(keyspace.host_info("h"), encode(info)),
        kv(keyspace.host_alive("h"), "{}"),
        kv(keyspace.host_status("h"), encode(st)),
        kv(keyspace.host_info("down"), encode(HostInfo(host="down", topology=topology(1)))),
        kv(keyspace.vm_status("a"), encode(status("a"))),
        kv(keyspace.vm_status("blind"), encode(status("blind", known=False))),
        kv(keyspace.vm_status("elsewhere"), encode(status("elsewhere", host="down"))),
        kv(keyspace.vm_balloon("a"), encode(BalloonIntent(vm="a", auto=True))),
        kv(keyspace.command("h", "1"), encode(command("a", GiB, "applied", 1.0, "1"))),
        kv(keyspace.command("h", "2"), encode(command("a", 3 * GiB, "pending", 0.0, "2"))),
    ]
    snapshot = snapshot_from_kvs(kvs, 10)
    vms = vm_balloons(snapshot, balloon_intents(kvs))
    assert vms["a"].command is not None and vms["a"].command.id == "2"  # the newest
    (host,) = balloon_hosts(snapshot, vms, auto=True)
    assert host.name == "h"
    assert [(n.node, n.free_bytes) for n in host.nodes] == [(0, GiB), (1, 0)]
    (a,) = host.vms
    assert a.name == "a" and a.auto and a.guest is not None
    assert a.guest.usable_bytes == GiB  # libvirt's `usable` (MemAvailable), not `available`
    (off,) = balloon_hosts(snapshot, vms, auto=False)
    assert not off.vms[0].auto


@pytest.mark.parametrize(
    ("target", "code", "message"),
    [
        (512 * MiB, grpc.StatusCode.INVALID_ARGUMENT, "below VM 'v''s reservation 1G"),
        (3 * GiB + 1, grpc.StatusCode.INVALID_ARGUMENT, "above VM 'v''s limit 3G"),
        (0, grpc.StatusCode.INVALID_ARGUMENT, "greater than zero"),
    ],
)
def test_set_balloon_refusals(target: int, code: grpc.StatusCode, message: str) -> None:
    spec = Versioned(VmSpec(name="v", reservation_bytes=GiB, limit_bytes=3 * GiB), 1)
    with pytest.raises(Refused) as refused:
        check_target(VmBalloon("v", status("v"), spec=spec), target)
    assert refused.value.code == code and message in refused.value.message


def test_no_driver_and_above_maximum_are_refused() -> None:
    with pytest.raises(Refused, match="has no balloon") as e:
        check_target(VmBalloon("v", status("v", known=False)), GiB)
    assert e.value.code == grpc.StatusCode.FAILED_PRECONDITION
    with pytest.raises(Refused, match="maximum memory 4G"):
        check_target(VmBalloon("v", status("v")), 5 * GiB)
    check_target(VmBalloon("v", status("v")), 4 * GiB)  # the maximum itself is fine
