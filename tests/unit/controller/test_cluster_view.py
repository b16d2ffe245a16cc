"""ClusterSnapshot -> ClusterView: schedulable hosts, observed VMs, claims counted once."""

from __future__ import annotations

from google.protobuf.message import Message

from numaplane.common.units import GiB
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import snapshot_from_kvs
from numaplane.controller.state.views import build_view
from numaplane.controller.store.contract import KV
from numaplane.v1 import state_pb2, types_pb2


def _kv(key: str, msg: Message, rev: int = 1) -> KV:
    return KV(key, encode(msg), rev, rev)


def _info(host: str) -> state_pb2.HostInfo:
    return state_pb2.HostInfo(
        host=host,
        topology=types_pb2.Topology(
            nodes=[
                types_pb2.NumaNode(id=0, cpus=[0, 1], memory_total_bytes=8 * GiB,
                                   memory_free_bytes=8 * GiB),
                types_pb2.NumaNode(id=1, cpus=[2, 3], memory_total_bytes=8 * GiB,
                                   memory_free_bytes=8 * GiB),
            ],
            distances=[types_pb2.DistanceRow(distances=[10, 21]),
                       types_pb2.DistanceRow(distances=[21, 10])],
        ),
    )


def _status(free0: int, free1: int, at: float) -> state_pb2.HostStatus:
    return state_pb2.HostStatus(
        node_free=[types_pb2.NodeFree(node=0, free_bytes=free0),
                   types_pb2.NodeFree(node=1, free_bytes=free1)],
        observed_at=at,
    )


def _vm_status(name: str, host: str, node0: int, at: float) -> state_pb2.VmStatus:
    return state_pb2.VmStatus(
        name=name, host=host, observed_at=at,
        observed=types_pb2.VmObservation(
            name=name, vcpus=2, memory_bytes=node0, state="running",
            memory_by_node=[types_pb2.NodeMemory(node=0, bytes=node0)],
            allowed_cpus=[0, 1], running_cpus=[0, 1],
        ),
    )


def _claim(host: str, vm: str, node0: int) -> state_pb2.Claim:
    return state_pb2.Claim(host=host, vm=vm,
                           memory_by_node=[types_pb2.NodeMemory(node=0, bytes=node0)])


def test_host_states_and_free_memory_from_the_last_status() -> None:
    kvs = [
        _kv(keyspace.host_info("a"), _info("a")),
        KV(keyspace.host_alive("a"), "{}", 1, 1),
        _kv(keyspace.host_status("a"), _status(6 * GiB, 7 * GiB, 10.0)),
        _kv(keyspace.host_info("b"), _info("b")),
        KV(keyspace.host_alive("b"), "{}", 1, 1),
        _kv(keyspace.host_schedule("b"), state_pb2.HostSchedule(cordoned=True)),
        _kv(keyspace.host_info("c"), _info("c")),
        KV(keyspace.host_alive("c"), "{}", 1, 1),
        _kv(keyspace.host_schedule("c"), state_pb2.HostSchedule(draining=True)),
        _kv(keyspace.host_info("d"), _info("d")),  # no alive key: down
        KV(keyspace.host_alive("e"), "{}", 1, 1),  # no info: unknown topology, left out
    ]
    view = build_view(snapshot_from_kvs(kvs, 5))
    assert [h.name for h in view.hosts] == ["a", "b", "c", "d"]
    states = {h.name: (h.state, h.schedulable) for h in view.hosts}
    assert states == {"a": ("up", True), "b": ("cordoned", False),
                      "c": ("draining", False), "d": ("down", False)}
    a = view.host("a")
    assert a is not None
    assert a.topology.node(0).memory_free_bytes == 6 * GiB
    assert a.topology.node(1).memory_free_bytes == 7 * GiB


def test_a_claim_counts_whole_until_the_host_status_reflects_its_vm() -> None:
    base = [
        _kv(keyspace.host_info("a"), _info("a")),
        KV(keyspace.host_alive("a"), "{}", 1, 1),
        _kv(keyspace.claim("a", "web"), _claim("a", "web", 4 * GiB)),
        _kv(keyspace.vm_spec("web"), state_pb2.VmSpec(name="web", vcpus=2,
                                                      memory_bytes=4 * GiB, group="g")),
        _kv(keyspace.vm_placement("web"), state_pb2.VmPlacement(
            name="web", state="starting", host="a", nodes=[0])),
    ]
    # Not yet observed: the whole claim is in flight, and the VM is listed for group rules.
    view = build_view(snapshot_from_kvs([*base, _kv(keyspace.host_status("a"),
                                                    _status(8 * GiB, 8 * GiB, 1.0))], 5))
    a = view.host("a")
    assert a is not None
    assert a.claimed_by_node == {0: 4 * GiB}
    assert a.available_bytes(0) == 4 * GiB
    [vm] = a.vms
    assert (vm.name, vm.group, vm.memory_by_node, vm.cpu_nodes) == ("web", "g", {}, frozenset())

    # The VM is observed with 3G, but the host status is older: still the whole claim.
    observed = _kv(keyspace.vm_status("web"), _vm_status("web", "a", 3 * GiB, 2.0))
    view = build_view(snapshot_from_kvs([*base, observed, _kv(
        keyspace.host_status("a"), _status(8 * GiB, 8 * GiB, 1.0))], 5))
    a = view.host("a")
    assert a is not None and a.claimed_by_node == {0: 4 * GiB}

    # A host status as new as the VM's: only the 1G not yet resident is in flight.
    view = build_view(snapshot_from_kvs([*base, observed, _kv(
        keyspace.host_status("a"), _status(5 * GiB, 8 * GiB, 2.0))], 5))
    a = view.host("a")
    assert a is not None
    assert a.claimed_by_node == {0: 1 * GiB}
    assert a.available_bytes(0) == 4 * GiB
    [vm] = a.vms
    assert vm.memory_by_node == {0: 3 * GiB} and vm.cpu_nodes == frozenset({0})
    assert vm.bound_nodes == (0,)


def test_the_operators_host_and_nodes_pin_a_vm_against_automatic_moves() -> None:
    """A spec with --host (and --nodes) marks the VM pinned: the rebalancer reads it."""
    kvs = [
        _kv(keyspace.host_info("a"), _info("a")),
        KV(keyspace.host_alive("a"), "{}", 1, 1),
        _kv(keyspace.host_status("a"), _status(4 * GiB, 8 * GiB, 5.0)),
    ]
    for name, host, nodes in (("free", "", []), ("on-a", "a", []), ("on-a0", "a", [0])):
        kvs += [
            _kv(keyspace.vm_spec(name), state_pb2.VmSpec(
                name=name, vcpus=2, memory_bytes=GiB, host=host, nodes=nodes)),
            _kv(keyspace.vm_placement(name), state_pb2.VmPlacement(
                name=name, state="running", host="a", nodes=[0])),
            _kv(keyspace.vm_status(name), _vm_status(name, "a", GiB, 4.0)),
        ]
    kvs.append(_kv(keyspace.vm_status("observed"), _vm_status("observed", "a", GiB, 4.0)))
    a = build_view(snapshot_from_kvs(kvs, 5)).host("a")
    assert a is not None
    pins = {vm.name: (vm.pinned_host, vm.pinned_nodes) for vm in a.vms}
    assert pins == {
        "free": (False, False), "on-a": (True, False), "on-a0": (True, True),
        "observed": (False, False),
    }


def test_the_guests_size_comes_from_its_balloon_when_the_driver_knows_it() -> None:
    """Balloon actual is the memory the guest has; with nothing known it stays None."""
    ballooned = _vm_status("b", "a", GiB, 4.0)
    ballooned.observed.balloon.known = True
    ballooned.observed.balloon.actual_bytes = 3 * GiB
    kvs = [
        _kv(keyspace.host_info("a"), _info("a")),
        KV(keyspace.host_alive("a"), "{}", 1, 1),
        _kv(keyspace.host_status("a"), _status(6 * GiB, 8 * GiB, 5.0)),
        _kv(keyspace.vm_status("b"), ballooned),
        _kv(keyspace.vm_status("n"), _vm_status("n", "a", GiB, 4.0)),
    ]
    a = build_view(snapshot_from_kvs(kvs, 5)).host("a")
    assert a is not None
    assert {vm.name: vm.guest_bytes for vm in a.vms} == {"b": 3 * GiB, "n": None}
