"""ReportIngest against a real etcd: write what changed materially, at a bounded rate.

Every test drives one host's ingest with hand-built reports and a clock it moves by
hand, and judges by what is in etcd (keys, values and mod revisions under the test's
namespace), not by what the ingest says it did.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from numaplane.common.topology import NumaNode, Topology
from numaplane.common.units import GiB, MiB
from numaplane.controller.link.ingest import ReportIngest
from numaplane.controller.metrics import ControllerMetrics
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import link_pb2, state_pb2, types_pb2

pytestmark = pytest.mark.integration

TOPOLOGY = Topology(
    nodes=(
        NumaNode(id=0, cpus=(0, 1, 2, 3), memory_total_bytes=16 * GiB,
                 memory_free_bytes=8 * GiB),
        NumaNode(id=1, cpus=(4, 5, 6, 7), memory_total_bytes=16 * GiB,
                 memory_free_bytes=8 * GiB),
    ),
    distances=((10, 21), (21, 10)),
)
SETTINGS = ControllerSettings(
    status_min_interval_s=2.0, status_max_interval_s=60.0,
    material_memory_bytes=64 * MiB, material_locality=0.02,
)
Snapshot = dict[str, tuple[str, int]]


class Clock:
    """The ingest's notion of now, moved by the test."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def vm(
    name: str, by_node: Mapping[int, int], *, locality: float = 1.0,
    cpus: Sequence[int] = (0, 1),
) -> types_pb2.VmObservation:
    return types_pb2.VmObservation(
        id=f"id-{name}", name=name, vcpus=len(cpus), memory_bytes=sum(by_node.values()),
        memory_by_node=[types_pb2.NodeMemory(node=n, bytes=b) for n, b in by_node.items()],
        allowed_cpus=list(cpus), running_cpus=list(cpus), locality=locality, state="running",
    )


class Reporter:
    """Reports of one host, numbered like an agent numbers them."""

    def __init__(self) -> None:
        self.sequence = 0

    def __call__(
        self, *vms: types_pb2.VmObservation, free: tuple[int, int] = (8 * GiB, 8 * GiB)
    ) -> link_pb2.Report:
        self.sequence += 1
        return link_pb2.Report(
            sequence=self.sequence, observed_at=1.7e9 + self.sequence,
            node_free=[types_pb2.NodeFree(node=n, free_bytes=b) for n, b in enumerate(free)],
            vms=list(vms),
        )


A = vm("a", {0: 2 * GiB})
B = vm("b", {1: 1 * GiB}, cpus=(4,))


def ingest_for(
    store: EtcdStore, clock: Clock, host: str = "h1", metrics: ControllerMetrics | None = None
) -> ReportIngest:
    return ReportIngest(store, host, TOPOLOGY, SETTINGS, metrics or ControllerMetrics(),
                        clock=clock)


async def snapshot(store: EtcdStore) -> Snapshot:
    kvs, _ = await store.get_prefix(keyspace.ROOT)
    return {kv.key: (kv.value, kv.mod_revision) for kv in kvs}


def changed(before: Snapshot, after: Snapshot) -> set[str]:
    """Keys written or deleted between two snapshots."""
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


async def stored_vm(store: EtcdStore, name: str) -> state_pb2.VmStatus | None:
    kv = await store.get(keyspace.vm_status(name))
    return None if kv is None else decode(state_pb2.VmStatus, kv.value)


def writes(metrics: ControllerMetrics) -> float | None:
    return metrics.registry.get_sample_value("numaplane_store_writes_total")


async def test_first_report_writes_every_vm_and_the_host_status(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    assert await ingest.ingest(report(A, B), 0.0) == 3
    after = await snapshot(store)
    assert set(after) == {keyspace.vm_status("a"), keyspace.vm_status("b"),
                          keyspace.host_status("h1")}
    a = await stored_vm(store, "a")
    assert a is not None and a.host == "h1" and a.observed == A


async def test_repeated_identical_report_writes_nothing(store: EtcdStore) -> None:
    clock, report, metrics = Clock(), Reporter(), ControllerMetrics()
    ingest = ingest_for(store, clock, metrics=metrics)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    for _ in range(3):
        clock.now += 5.0  # well past the rate limit: only a change may cause a write
        assert await ingest.ingest(report(A, B), 0.0) == 0
    assert changed(before, await snapshot(store)) == set()
    assert writes(metrics) == 3


async def test_changes_below_the_material_thresholds_write_nothing(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    clock.now += 5.0
    small = 32 * MiB
    nudged_a = vm("a", {0: 2 * GiB - small, 1: small}, locality=0.99)
    nudged_free = (8 * GiB - small, 8 * GiB + small)
    assert await ingest.ingest(report(nudged_a, B, free=nudged_free), 0.0) == 0
    assert changed(before, await snapshot(store)) == set()


async def test_a_material_change_is_written_once(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    clock.now += 5.0
    moved_a = vm("a", {0: 1 * GiB, 1: 1 * GiB}, locality=0.5)
    assert await ingest.ingest(report(moved_a, B), 0.0) == 2
    after = await snapshot(store)
    # The VM that changed, and the host summary (its mean locality moved); not B.
    assert changed(before, after) == {keyspace.vm_status("a"), keyspace.host_status("h1")}
    stored = await stored_vm(store, "a")
    assert stored is not None and stored.observed.locality == 0.5
    clock.now += 5.0
    assert await ingest.ingest(report(moved_a, B), 0.0) == 0
    assert changed(after, await snapshot(store)) == set()


async def test_a_change_sooner_than_the_rate_limit_is_held_for_a_later_report(
    store: EtcdStore,
) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    moved_a = vm("a", {1: 2 * GiB}, locality=0.0)
    for dt in (0.5, 0.5, 0.5):  # 1.5 s after the write: still inside status_min_interval_s
        clock.now += dt
        assert await ingest.ingest(report(moved_a, B), 0.0) == 0
    assert changed(before, await snapshot(store)) == set()
    clock.now += 0.6
    # The later report carries nothing new, but it is still a change against what was
    # written: now it goes out.
    assert await ingest.ingest(report(moved_a, B), 0.0) == 2
    stored = await stored_vm(store, "a")
    assert stored is not None and stored.observed.locality == 0.0


async def test_a_change_undone_before_the_rate_limit_is_never_written(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    clock.now += 1.0
    await ingest.ingest(report(vm("a", {1: 2 * GiB}, locality=0.0), B), 0.0)
    clock.now += 5.0
    assert await ingest.ingest(report(A, B), 0.0) == 0
    assert changed(before, await snapshot(store)) == set()


async def test_host_status_is_rewritten_at_the_freshness_interval_only(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    before = await snapshot(store)
    clock.now += SETTINGS.status_max_interval_s
    assert await ingest.ingest(report(A, B), 0.0) == 1
    assert changed(before, await snapshot(store)) == {keyspace.host_status("h1")}


async def test_a_vm_leaving_the_report_has_its_status_deleted(store: EtcdStore) -> None:
    clock, report = Clock(), Reporter()
    ingest = ingest_for(store, clock)
    await ingest.ingest(report(A, B), 0.0)
    clock.now += 5.0
    assert await ingest.ingest(report(A), 0.0) == 2  # B deleted; host status (VM list)
    assert await stored_vm(store, "b") is None
    status_kv = await store.get(keyspace.host_status("h1"))
    assert status_kv is not None
    assert list(decode(state_pb2.HostStatus, status_kv.value).vm_names) == ["a"]


async def test_a_vm_another_host_wrote_since_is_not_deleted(store: EtcdStore) -> None:
    """The VM moved (live migration): its new host reported it before the old host's
    report without it arrived. The guarded delete leaves the new host's record alone."""
    clock = Clock()
    old_host, new_host = ingest_for(store, clock, "h1"), ingest_for(store, clock, "h2")
    report1, report2 = Reporter(), Reporter()
    await old_host.ingest(report1(A, B), 0.0)
    clock.now += 5.0
    await new_host.ingest(report2(vm("b", {0: 1 * GiB}, cpus=(0,))), 0.0)
    clock.now += 5.0
    await old_host.ingest(report1(A), 0.0)
    moved = await stored_vm(store, "b")
    assert moved is not None and moved.host == "h2"
    # The old host has let go of it: later reports do not try again.
    before = await snapshot(store)
    clock.now += 5.0
    assert await old_host.ingest(report1(A), 0.0) == 0
    assert changed(before, await snapshot(store)) == set()


async def test_after_a_restart_the_first_report_does_not_rewrite_unchanged_vms(
    store: EtcdStore,
) -> None:
    clock, report = Clock(), Reporter()
    await ingest_for(store, clock).ingest(report(A, B), 0.0)
    # Another host's VM must not be adopted (nor deleted) by h1's new session.
    await ingest_for(store, clock, "h9").ingest(Reporter()(vm("z", {0: GiB})), 0.0)
    before = await snapshot(store)
    clock.now += 0.1  # a controller restart is quick: sooner than the rate limit
    restarted = ingest_for(store, clock)
    moved_a = vm("a", {1: 2 * GiB}, locality=0.0)
    c = vm("c", {1: GiB}, cpus=(5,))
    # A unchanged would be skipped; here A moved while the controller was away, B is
    # gone and C is new: exactly those are written, Z (h9's) is untouched.
    written = await restarted.ingest(report(moved_a, c), 0.0)
    after = await snapshot(store)
    assert changed(before, after) == {keyspace.vm_status("a"), keyspace.vm_status("b"),
                                      keyspace.vm_status("c"), keyspace.host_status("h1")}
    assert written == 4
    clock.now += 5.0
    again = ingest_for(store, clock)
    assert await again.ingest(report(moved_a, c), 0.0) == 1  # its host status only
    assert changed(after, await snapshot(store)) == {keyspace.host_status("h1")}
