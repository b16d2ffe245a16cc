"""The libvirt backend against libvirt's own test driver (`test:///default`, two NUMA cells).

Every test opens its own connection, which gives it a fresh driver state (the driver's
one predefined domain, `test`, running, 2 GiB current memory, unbound).
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from numaplane.common.units import GiB
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.commands.vm import register_vm_handlers
from numaplane.hostagent.drivers.contract import BackendError, NoRoomError, VmStart
from numaplane.hostagent.drivers.libvirt.domain_xml import domain_xml, parse_cpuset, read_domain
from numaplane.hostagent.drivers.libvirt.topology import parse_cells, topology_from_cells
from numaplane.hostagent.drivers.registry import open_driver
from numaplane.hostagent.settings import AgentSettings
from numaplane.v1 import link_pb2

libvirt = pytest.importorskip("libvirt")

from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend  # noqa: E402

URI = "test:///default"


@pytest.fixture
def backend() -> Iterator[LibvirtBackend]:
    b = LibvirtBackend(URI)
    yield b
    b.close()


def test_topology_from_the_test_drivers_two_cells(backend: LibvirtBackend) -> None:
    t = backend.topology()
    assert t.node_ids == (0, 1)
    assert t.node(0).cpus == tuple(range(8)) and t.node(1).cpus == tuple(range(8, 16))
    assert (t.node(0).memory_total_bytes, t.node(1).memory_total_bytes) == (2 * GiB, 4 * GiB)
    # No <distances> in the test driver: Linux's defaults.
    assert t.distances == ((10, 20), (20, 10))
    # The predefined `test` domain (2 GiB, unbound) is counted on both cells.
    assert (t.node(0).memory_free_bytes, t.node(1).memory_free_bytes) == (1 * GiB, 3 * GiB)
    assert backend.capabilities().name == "libvirt"


def test_start_defines_numatune_and_per_vcpu_pins_and_reads_them_back(
    backend: LibvirtBackend,
) -> None:
    message = backend.start_vm(VmStart("web", 2, 1 * GiB, nodes=(1,), cpus=(8, 9, 10, 11)))
    assert "started web" in message

    # What libvirt holds, read straight from libvirt (on the backend's connection: a
    # second connection to test:///default would be a fresh, empty driver).
    dom = backend.connection.lookupByName("web")
    assert dom.isActive()
    root = ET.fromstring(dom.XMLDesc())
    memory = root.find("./numatune/memory")
    assert memory is not None
    assert (memory.get("mode"), memory.get("nodeset")) == ("strict", "1")
    pins = {p.get("vcpu"): p.get("cpuset") for p in root.findall("./cputune/vcpupin")}
    assert pins == {"0": "8-11", "1": "8-11"}
    assert dom.numaParameters(0)["numa_nodeset"] == "1"

    # What the agent reports.
    obs = {vm.name: vm for vm in backend.observe().vms}
    web = obs["web"]
    assert web.state == "running"
    assert (web.vcpus, web.memory_bytes) == (2, 1 * GiB)
    assert web.memory_by_node == {1: 1 * GiB}
    assert web.allowed_cpus == (8, 9, 10, 11)
    assert len(web.running_cpus) == 2 and set(web.running_cpus) <= {8, 9, 10, 11}
    assert web.id == dom.UUIDString()
    assert backend.topology().node(1).memory_free_bytes == 2 * GiB


def test_start_is_idempotent_and_refuses_what_the_nodes_cannot_hold(
    backend: LibvirtBackend,
) -> None:
    start = VmStart("db", 1, 1 * GiB, nodes=(0,), cpus=(0,))
    backend.start_vm(start)
    assert "already runs" in backend.start_vm(start)
    with pytest.raises(NoRoomError, match="no room: nodes 0 have 0 free for 1G"):
        backend.start_vm(VmStart("db2", 1, 1 * GiB, nodes=(0,), cpus=(0,)))
    with pytest.raises(BackendError, match=r"nodes \[7\] are not NUMA cells"):
        backend.start_vm(VmStart("db3", 1, 1 * GiB, nodes=(7,)))
    names = {d.name() for d in backend.connection.listAllDomains()}
    assert names == {"test", "db"}  # nothing left behind by the refusals


def test_stop_destroys_and_undefines_and_is_idempotent(backend: LibvirtBackend) -> None:
    backend.start_vm(VmStart("tmp", 1, 512 << 20, nodes=(1,), cpus=(8,)))
    assert backend.stop_vm("tmp") == "destroyed and undefined tmp"
    assert "not defined" in backend.stop_vm("tmp")
    assert "tmp" not in {d.name() for d in backend.connection.listAllDomains()}


def test_preferred_binding_on_one_node_and_interleave_on_several() -> None:
    one = ET.fromstring(domain_xml(VmStart("a", 1, GiB, nodes=(1,), strict_memory=False),
                                   domain_type="kvm", arch="x86_64"))
    two = ET.fromstring(domain_xml(VmStart("b", 1, GiB, nodes=(0, 1), strict_memory=False),
                                   domain_type="kvm", arch="x86_64"))
    none = ET.fromstring(domain_xml(VmStart("c", 1, GiB), domain_type="kvm", arch="x86_64"))
    mem = one.find("./numatune/memory")
    assert mem is not None and mem.get("mode") == "preferred"
    mem = two.find("./numatune/memory")
    assert mem is not None and (mem.get("mode"), mem.get("nodeset")) == ("interleave", "0-1")
    assert none.find("numatune") is None and none.find("cputune") is None


def test_read_domain_understands_libvirt_cpusets() -> None:
    assert parse_cpuset("0-7,^3") == frozenset({0, 1, 2, 4, 5, 6, 7})
    d = read_domain(
        "<domain><name>x</name><uuid>u</uuid><memory unit='MiB'>1024</memory>"
        "<vcpu cpuset='0-3'>3</vcpu><cputune><vcpupin vcpu='1' cpuset='2'/></cputune>"
        "<numatune><memory mode='strict' nodeset='0,2'/></numatune></domain>"
    )
    assert (d.memory_bytes, d.current_memory_bytes) == (GiB, GiB)
    assert d.vcpu_pins == ((0, 1, 2, 3), (2,), (0, 1, 2, 3))
    assert (d.memory_mode, d.memory_nodes) == ("strict", (0, 2))


def test_capabilities_distances_when_libvirt_gives_them() -> None:
    caps = """<capabilities><host><topology><cells num='2'>
      <cell id='0'><memory unit='KiB'>1048576</memory>
        <distances><sibling id='0' value='10'/><sibling id='1' value='21'/></distances>
        <cpus num='1'><cpu id='0'/></cpus></cell>
      <cell id='1'><memory unit='KiB'>1048576</memory>
        <distances><sibling id='0' value='21'/><sibling id='1' value='10'/></distances>
        <cpus num='1'><cpu id='1'/></cpus></cell>
    </cells></topology></host></capabilities>"""
    t = topology_from_cells(parse_cells(caps), {0: 2 * GiB, 1: 512 << 20})
    assert t.distances == ((10, 21), (21, 10))
    assert t.node(0).memory_free_bytes == GiB  # clamped to the total
    assert t.node(1).memory_free_bytes == 512 << 20


async def test_agent_handlers_start_and_stop_through_libvirt(tmp_path: Path) -> None:
    settings = AgentSettings(host="lv", backend="libvirt", libvirt_uri=URI)
    driver = open_driver(settings)
    try:
        assert isinstance(driver.backend, LibvirtBackend)
        lifecycle = driver.lifecycle
        assert lifecycle is driver.backend  # the libvirt backend starts domains itself
        assert driver.mover is not None and driver.balloons
        reports: list[int] = []
        executor = Executor(AppliedLog(None), lambda: reports.append(1))
        register_vm_handlers(executor, lifecycle, lambda: reports.append(1))
        assert {"start-vm", "stop-vm"} <= set(executor.kinds)

        start = link_pb2.Command(id="c1", epoch=1)
        start.start_vm.CopyFrom(link_pb2.StartVm(
            name="vm1", vcpus=2, memory_bytes=GiB, nodes=[1], cpus=[8, 9], strict_memory=True))
        result = await executor.execute(start)
        assert result.ok, result.message
        too_big = link_pb2.Command(id="c2", epoch=1)
        too_big.start_vm.CopyFrom(link_pb2.StartVm(
            name="vm2", vcpus=1, memory_bytes=8 * GiB, nodes=[1], strict_memory=True))
        result = await executor.execute(too_big)
        assert not result.ok and result.message.startswith("no room:")
        stop = link_pb2.Command(id="c3", epoch=1)
        stop.stop_vm.name = "vm1"
        result = await executor.execute(stop)
        assert result.ok and "destroyed" in result.message
        assert len(reports) == 2  # a report asked for after each change
    finally:
        driver.close()


def test_a_limit_becomes_the_domains_current_memory(backend: LibvirtBackend) -> None:
    backend.start_vm(VmStart("lim", 1, 2 * GiB, nodes=(1,), cpus=(8,), limit_bytes=GiB))
    d = read_domain(backend.connection.lookupByName("lim").XMLDesc())
    assert (d.memory_bytes, d.current_memory_bytes) == (2 * GiB, GiB)
    [vm] = [v for v in backend.observe().vms if v.name == "lim"]
    assert vm.memory_by_node == {1: GiB}
