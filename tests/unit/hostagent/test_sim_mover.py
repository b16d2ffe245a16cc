"""The sim mover against the real simulator: memory moved at the command's rate, progress,
stalls, cancellation and resumption, and live migration between two simulated hosts.

Time: the backend and the mover read a `Ticking` clock that moves a fixed step each time
it is read, so a mover that polls sees simulated time pass without any real waiting.
"""

from __future__ import annotations

import threading

import pytest

from numaplane.common.units import GiB, MiB
from numaplane.hostagent.drivers.contract import (
    LiveMigration,
    MemoryMigration,
    MoveCancelled,
    MoveError,
)
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimHost,
    SimHostSpec,
    SimNodeSpec,
)
from numaplane.hostagent.drivers.sim.fabric import SimFabric
from numaplane.hostagent.drivers.sim.mover import SimMover


class Ticking:
    """A clock that advances `step` seconds every time it is read."""

    def __init__(self, step: float = 0.1) -> None:
        self.now = 0.0
        self.step = step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


def host(name: str = "h", memory_gib: float = 4) -> SimHost:
    spec = SimHostSpec(
        name=name,
        nodes=(SimNodeSpec(cpus=2, memory_bytes=int(memory_gib * GiB)),) * 2,
        distances=((10, 21), (21, 10)),
    )
    return SimHost(spec, seed=1)


def remote_vm(sim: SimHost, name: str = "vm", size: int = GiB) -> None:
    """Memory strictly on node 0, vCPUs on node 1: locality 0."""
    sim.start_vm(name, 1, size, cpus=sim.spec.cpus_of_node(1), binding=MemoryBinding.strict([0]))


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[int, int, str]] = []

    def __call__(self, done: int, total: int, message: str) -> None:
        self.calls.append((done, total, message))


def test_memory_moves_at_the_rate_with_progress_and_vcpus_bound() -> None:
    sim = host()
    remote_vm(sim)
    clock = Ticking(0.1)
    mover = SimMover(SimBackend(sim, clock=clock), poll_s=0.0, clock=clock)
    progress = Recorder()
    message = mover.migrate_memory(
        MemoryMigration("vm", (1,), rate_bytes_per_s=512 * MiB), progress, threading.Event()
    )
    vm = sim.vm("vm")
    assert vm.memory_by_node == {1: GiB}
    assert set(vm.allowed_cpus) == set(sim.spec.cpus_of_node(1))
    assert vm.migrated_bytes_total == GiB
    assert "moved 1G of vm to nodes 1 at 512 MiB/s" in message
    done = [d for d, _, _ in progress.calls]
    assert done == sorted(done) and done[-1] == GiB
    assert len(done) > 3  # 1 GiB at 512 MiB/s is 2 simulated seconds of 0.1 s polls
    assert {t for _, t, _ in progress.calls} == {GiB}


def test_a_cancelled_migration_stops_and_a_resumed_one_moves_only_the_rest() -> None:
    sim = host()
    remote_vm(sim)
    clock = Ticking(0.1)
    backend = SimBackend(sim, clock=clock)
    cancel = threading.Event()
    seen: list[int] = []

    def progress(done: int, total: int, message: str) -> None:
        seen.append(done)
        if done >= GiB // 4:
            cancel.set()

    move = MemoryMigration("vm", (1,), rate_bytes_per_s=512 * MiB)
    with pytest.raises(MoveCancelled):
        SimMover(backend, poll_s=0.0, clock=clock).migrate_memory(move, progress, cancel)
    partial = sim.vm("vm")
    assert partial.migrating_to is None  # stopped with the agent, not carried on
    assert 0 < partial.memory_by_node[1] < GiB
    clock.now += 100.0  # time passes while no agent runs: nothing moves
    assert sim.vm("vm").memory_by_node == partial.memory_by_node
    SimMover(backend, poll_s=0.0, clock=clock).migrate_memory(move, Recorder(), threading.Event())
    assert sim.vm("vm").memory_by_node == {1: GiB}
    assert sim.vm("vm").migrated_bytes_total == GiB  # every byte moved once


def test_a_stalled_migration_fails_after_the_timeout() -> None:
    sim = host(memory_gib=1)
    remote_vm(sim, size=GiB // 2)
    sim.start_vm("filler", 1, GiB - 64 * MiB, cpus=(2,), binding=MemoryBinding.strict([1]))
    clock = Ticking(1.0)
    mover = SimMover(SimBackend(sim, clock=clock), poll_s=0.0, stall_timeout_s=5.0, clock=clock)
    with pytest.raises(MoveError, match="nodes 1 are full"):
        mover.migrate_memory(
            MemoryMigration("vm", (1,), rate_bytes_per_s=GiB), Recorder(), threading.Event()
        )
    assert sim.vm("vm").migrating_to is None


def test_unknown_vm_and_node_are_refused() -> None:
    sim = host()
    mover = SimMover(SimBackend(sim, clock=Ticking()), poll_s=0.0)
    with pytest.raises(MoveError, match="no VM named 'ghost'"):
        mover.migrate_memory(MemoryMigration("ghost", (1,), GiB), Recorder(), threading.Event())
    remote_vm(sim)
    with pytest.raises(MoveError, match="nodes \\[7\\]"):
        mover.migrate_memory(MemoryMigration("vm", (7,), GiB), Recorder(), threading.Event())


def fabric_pair() -> tuple[SimHost, SimHost, SimBackend, SimBackend, Ticking]:
    clock = Ticking(0.1)
    a, b = host("a"), host("b")
    backend_a, backend_b = SimBackend(a, clock=clock), SimBackend(b, clock=clock)
    fabric = SimFabric()
    fabric.join(backend_a)
    fabric.join(backend_b)
    return a, b, backend_a, backend_b, clock


def test_live_migration_moves_the_vm_to_the_target_nodes() -> None:
    a, b, backend_a, _, clock = fabric_pair()
    remote_vm(a, size=GiB)
    a.set_balloon_target("vm", GiB // 2)
    a.advance(1.0)
    mover = SimMover(backend_a, poll_s=0.0, clock=clock)
    assert mover.can_live_migrate and backend_a.capabilities().live_migration
    progress = Recorder()
    message = mover.live_migrate(
        LiveMigration("vm", "b", target_nodes=(1,), rate_bytes_per_s=GiB), progress,
        threading.Event(),
    )
    assert not a.has_vm("vm")
    vm = b.vm("vm")
    assert vm.memory_by_node == {1: GiB // 2}  # its balloon came along
    assert set(vm.allowed_cpus) == set(b.spec.cpus_of_node(1))
    assert message == "live-migrated vm (512M) to b nodes 1"
    assert progress.calls[-1][0] == progress.calls[-1][1] == GiB // 2


def test_a_cancelled_live_migration_changes_nothing_and_a_resumed_one_finishes() -> None:
    a, b, backend_a, _, clock = fabric_pair()
    remote_vm(a)
    cancel = threading.Event()
    cancel.set()
    move = LiveMigration("vm", "b", rate_bytes_per_s=GiB)
    with pytest.raises(MoveCancelled, match="still runs here"):
        SimMover(backend_a, poll_s=0.0, clock=clock).live_migrate(move, Recorder(), cancel)
    assert a.has_vm("vm") and not b.has_vm("vm")
    # Interrupted after the switch (running on both): the resume removes the source copy.
    b.start_vm("vm", 1, GiB)
    message = SimMover(backend_a, poll_s=0.0, clock=clock).live_migrate(
        move, Recorder(), threading.Event()
    )
    assert not a.has_vm("vm") and b.has_vm("vm")
    assert "live-migrated vm" in message
    # And once more: it already runs there.
    again = SimMover(backend_a, poll_s=0.0, clock=clock).live_migrate(
        move, Recorder(), threading.Event()
    )
    assert again == "vm already runs on b"


def test_no_live_migration_without_a_fabric_or_to_an_unknown_host() -> None:
    sim = host()
    remote_vm(sim)
    backend = SimBackend(sim, clock=Ticking())
    mover = SimMover(backend, poll_s=0.0)
    assert not mover.can_live_migrate and not backend.capabilities().live_migration
    with pytest.raises(MoveError, match="no simulated host 'b'"):
        mover.live_migrate(LiveMigration("vm", "b"), Recorder(), threading.Event())
