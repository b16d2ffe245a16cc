"""Moves through libvirt, against libvirt's own test driver (`test:///default`).

The test driver keeps live NUMA parameters and vCPU pins, so a memory move (live
numatune) and a vCPU re-binding are checked by reading libvirt back; it has no
migration, so a live migration is checked up to the error libvirt itself returns. The
agent's handlers are driven through the real executor, as the link drives them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.hostagent.drivers.contract import LiveMigration, MemoryMigration, MoveError
from numaplane.v1 import link_pb2

libvirt = pytest.importorskip("libvirt")

from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend  # noqa: E402
from numaplane.hostagent.drivers.libvirt.mover import LibvirtMover, bind_memory_xml  # noqa: E402


@pytest.fixture
def backend() -> Iterator[LibvirtBackend]:
    b = LibvirtBackend("test:///default")
    yield b
    b.close()


def no_pid(name: str) -> int | None:
    return None


def nothing(done: int, total: int, message: str) -> None:
    pass


def test_memory_move_is_a_live_numatune_change_and_pins_the_vcpus(
    backend: LibvirtBackend,
) -> None:
    mover = LibvirtMover(backend.connection, pid_of=no_pid)
    message = mover.migrate_memory(
        MemoryMigration("test", (0,), rate_bytes_per_s=256 << 20), nothing, threading.Event()
    )
    dom = backend.connection.lookupByName("test")
    assert dom.numaParameters(libvirt.VIR_DOMAIN_AFFECT_LIVE)["numa_nodeset"] == "0"
    cells_cpus = set(range(8))  # the test driver's cell 0
    for pins in dom.vcpus()[1]:
        assert {cpu for cpu, on in enumerate(pins) if on} == cells_cpus
    assert "memory bound to nodes 0 (live numatune)" in message
    assert "unthrottled (no QEMU pid visible here)" in message


def test_set_vcpu_affinity_pins_every_vcpu(backend: LibvirtBackend) -> None:
    message = LibvirtMover(backend.connection, pid_of=no_pid).set_vcpu_affinity("test", (2, 3))
    for pins in backend.connection.lookupByName("test").vcpus()[1]:
        assert {cpu for cpu, on in enumerate(pins) if on} == {2, 3}
    assert message == "pinned 2 vCPUs of test to CPUs 2,3"


def test_live_migration_reaches_libvirts_own_refusal(backend: LibvirtBackend) -> None:
    mover = LibvirtMover(backend.connection, pid_of=no_pid)
    move = LiveMigration(
        "test", "hv-02", target_uri="qemu+ssh://hv-02/system", target_nodes=(1,),
        rate_bytes_per_s=512 << 20,
    )  # fmt: skip
    with pytest.raises(MoveError) as refused:
        mover.live_migrate(move, nothing, threading.Event())
    text = str(refused.value)
    assert text.startswith("libvirt could not migrate test to qemu+ssh://hv-02/system: ")
    assert "not supported" in text  # libvirt's own words
    with pytest.raises(MoveError, match="needs the target's libvirt URI"):
        mover.live_migrate(LiveMigration("test", "hv-02"), nothing, threading.Event())


def test_unknown_domain_and_cell_are_refused(backend: LibvirtBackend) -> None:
    mover = LibvirtMover(backend.connection, pid_of=no_pid)
    with pytest.raises(MoveError, match="no libvirt domain named 'ghost'"):
        mover.set_vcpu_affinity("ghost", (0,))
    with pytest.raises(MoveError, match="nodes 5 are not cells"):
        mover.migrate_memory(MemoryMigration("test", (5,), 1.0), nothing, threading.Event())


def test_destination_xml_binds_memory_to_the_target_nodes() -> None:
    xml = (
        "<domain><name>v</name>"
        "<numatune><memory mode='preferred' nodeset='0'/></numatune></domain>"
    )
    out = bind_memory_xml(xml, (2, 3))
    assert "<memory mode=\"strict\" nodeset=\"2,3\" />" in out
    assert out.count("<numatune>") == 1


async def test_the_agent_registers_the_libvirt_handlers(tmp_path: Path) -> None:
    from numaplane.hostagent.agent import Agent
    from numaplane.hostagent.settings import AgentSettings

    settings = AgentSettings(
        host="hv", backend="libvirt", libvirt_uri="test:///default", state_dir=tmp_path
    )
    agent = Agent(settings)
    try:
        kinds = agent.executor.kinds
        assert {"migrate-memory", "set-vcpu-affinity", "live-migrate"} <= set(kinds)
        cmd = link_pb2.Command(
            id="m1", epoch=1,
            migrate_memory=link_pb2.MigrateMemory(vm="test", to_nodes=[1], rebind_vcpus=False),
        )  # fmt: skip
        result = await agent.executor.execute(cmd)
        assert result.ok, result.message
        dom = agent.backend.connection.lookupByName("test")  # type: ignore[attr-defined]
        assert dom.numaParameters(libvirt.VIR_DOMAIN_AFFECT_LIVE)["numa_nodeset"] == "1"
        live = link_pb2.Command(
            id="l1", epoch=1,
            live_migrate=link_pb2.LiveMigrate(vm="test", target_host="hv-02",
                                              target_uri="test:///default"),
        )  # fmt: skip
        failed = await agent.executor.execute(live)
        assert not failed.ok and "libvirt could not migrate test" in failed.message
    finally:
        agent.backend.close()
