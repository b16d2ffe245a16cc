"""The `libvirt` balloon driver against libvirt's own test driver (`test:///default`).

The test driver is a real libvirt: domain XML is parsed and validated, setMemoryFlags
checks its limits, memoryStats and setMemoryStatsPeriod answer as a hypervisor driver
does. Each test defines its own domains (unique names) and undefines them, because the
test driver's state is shared by every connection in the process.

The libvirt backend (hostagent/numaplane/hostagent/drivers/libvirt/backend.py) reports these
balloons and hands their drivers to the SetBalloon handler.

One code path for KVM/QEMU and Xen: the same driver runs over a virtio balloon and a
Xen one (`<memballoon model='xen'>`, what libvirt's libxl driver reports); what differs
is read from the XML, not chosen by hypervisor type.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Iterator

import pytest

pytest.importorskip("libvirt")

import libvirt

from numaplane.common.vm import BalloonCapabilities
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.balloon import SetBalloonHandler
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.drivers.contract import BalloonError
from numaplane.hostagent.drivers.libvirt.backend import LibvirtBackend
from numaplane.hostagent.drivers.libvirt.balloon import LibvirtBalloon, has_balloon
from numaplane.v1 import link_pb2

MiB = 1 << 20
KiB = 1 << 10

DomainFactory = Callable[..., libvirt.virDomain]


def domain_xml(name: str, memballoon: str, max_mib: int = 1024, current_mib: int = 1024) -> str:
    return f"""
<domain type='test'>
  <name>{name}</name>
  <memory unit='KiB'>{max_mib * 1024}</memory>
  <currentMemory unit='KiB'>{current_mib * 1024}</currentMemory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64'>hvm</type></os>
  <devices>{memballoon}</devices>
</domain>"""


@pytest.fixture
def make_domain() -> Iterator[DomainFactory]:
    conn = libvirt.open("test:///default")
    made: list[libvirt.virDomain] = []

    def make(memballoon: str, **sizes: int) -> libvirt.virDomain:
        name = f"balloon-{uuid.uuid4().hex[:8]}"
        dom = conn.defineXML(domain_xml(name, memballoon, **sizes))
        dom.create()
        made.append(dom)
        return dom

    yield make
    for dom in made:
        if dom.isActive():
            dom.destroy()
        dom.undefine()
    conn.close()


VIRTIO = "<memballoon model='virtio' autodeflate='on' freePageReporting='on'/>"
XEN = "<memballoon model='xen'/>"


@pytest.mark.parametrize("memballoon", [VIRTIO, XEN], ids=["kvm-virtio", "xen"])
def test_set_target_moves_the_live_balloon_only(
    make_domain: DomainFactory, memballoon: str
) -> None:
    dom = make_domain(memballoon, max_mib=2048, current_mib=1024)
    driver = LibvirtBalloon(dom, clock=lambda: 42.0)
    before = driver.state()
    assert (before.target_bytes, before.actual_bytes) == (1024 * MiB, 1024 * MiB)
    assert before.max_bytes == driver.max_bytes() == 2048 * MiB
    assert before.updated_at == 42.0

    driver.set_target(768 * MiB)
    after = driver.state()
    assert after.target_bytes == 768 * MiB
    assert after.actual_bytes == 768 * MiB  # the test driver's guest follows at once
    assert dom.info()[2] == 768 * 1024
    # AFFECT_LIVE: the persistent definition keeps its size.
    inactive = dom.XMLDesc(libvirt.VIR_DOMAIN_XML_INACTIVE)
    assert f"<currentMemory unit='KiB'>{1024 * 1024}</currentMemory>" in inactive


def test_capabilities_come_from_the_memballoon_element(make_domain: DomainFactory) -> None:
    virtio = LibvirtBalloon(make_domain(VIRTIO))
    assert virtio.capabilities() == BalloonCapabilities(
        guest_stats=True, deflate_on_oom=True, free_page_reporting=True
    )
    plain = LibvirtBalloon(make_domain("<memballoon model='virtio'/>"))
    assert plain.capabilities() == BalloonCapabilities(guest_stats=True)
    xen = LibvirtBalloon(make_domain(XEN))
    assert xen.capabilities() == BalloonCapabilities()  # a Xen balloon has no stats queue


def test_guest_statistics_are_turned_on_and_read(make_domain: DomainFactory) -> None:
    dom = make_domain("<memballoon model='virtio'/>")
    driver = LibvirtBalloon(dom, stats_period_s=3)
    reading = driver.state()
    assert "<stats period='3'/>" in dom.XMLDesc(0)
    stats = dom.memoryStats()
    assert reading.guest is not None
    assert reading.guest.free_bytes == stats["unused"] * KiB
    assert reading.guest.available_bytes == stats["available"] * KiB
    assert reading.guest.usable_bytes == stats["usable"] * KiB
    assert reading.guest.swap_in_bytes == stats["swap_in"] * KiB


def test_a_stats_period_already_set_is_left_alone(make_domain: DomainFactory) -> None:
    dom = make_domain("<memballoon model='virtio'><stats period='7'/></memballoon>")
    LibvirtBalloon(dom, stats_period_s=3).state()
    assert "<stats period='7'/>" in dom.XMLDesc(0)


@pytest.mark.parametrize("target", [0, 4095, 1024 * MiB + KiB])
def test_bad_targets_are_refused_before_libvirt_is_asked(
    make_domain: DomainFactory, target: int
) -> None:
    # libvirt would take 4095 bytes (3 KiB) and refuses 0 and above-maximum with messages
    # of its own; "refused target" is the driver's, and proves libvirt was never asked.
    dom = make_domain(VIRTIO, max_mib=1024, current_mib=900)
    driver = LibvirtBalloon(dom)
    with pytest.raises(BalloonError) as err:
        driver.set_target(target)
    assert err.value.vm == dom.name()
    assert "refused target" in str(err.value)
    assert dom.info()[2] == 900 * 1024
    assert driver.state().target_bytes == 900 * MiB


def test_a_domain_without_a_balloon_is_refused(make_domain: DomainFactory) -> None:
    dom = make_domain("<memballoon model='none'/>", max_mib=1024, current_mib=1024)
    assert not has_balloon(dom)
    driver = LibvirtBalloon(dom)
    with pytest.raises(BalloonError, match="no balloon"):
        driver.set_target(512 * MiB)
    assert dom.info()[2] == 1024 * 1024
    assert driver.state().guest is None  # memoryStats is empty without a balloon


def test_libvirt_errors_become_balloon_errors_naming_the_vm(make_domain: DomainFactory) -> None:
    dom = make_domain(VIRTIO)
    driver = LibvirtBalloon(dom, vm="web-1")
    dom.destroy()
    with pytest.raises(BalloonError) as err:
        driver.set_target(512 * MiB)
    assert err.value.vm == "web-1"
    assert "libvirt could not set the target" in err.value.cause


# --- the libvirt backend's balloons ---------------------------------------------------------


@pytest.fixture
def backend() -> Iterator[LibvirtBackend]:
    b = LibvirtBackend("test:///default", balloon_stats_period_s=2)
    yield b
    b.close()
    # The test driver's state lives until the last reference to its connection is gone;
    # domain handles (held by drivers, or by an async test's frame) are such references.
    # Collect them now, so later tests open a fresh driver as they expect.
    del b
    gc.collect()


def test_backend_reports_every_running_domains_balloon(backend: LibvirtBackend) -> None:
    conn = backend.connection
    with_balloon = conn.defineXML(domain_xml("np-with", VIRTIO, max_mib=2048, current_mib=1024))
    without = conn.defineXML(domain_xml("np-without", "<memballoon model='none'/>"))
    stopped = conn.defineXML(domain_xml("np-stopped", VIRTIO))
    with_balloon.create()
    without.create()
    vms = {vm.name: vm for vm in backend.observe().vms}
    balloon = vms["np-with"].balloon
    assert balloon is not None
    assert balloon.driver == "libvirt" and balloon.capabilities.deflate_on_oom
    assert (balloon.target_bytes, balloon.actual_bytes, balloon.max_bytes) == (
        1024 * MiB, 1024 * MiB, 2048 * MiB)
    assert balloon.guest is not None  # the stats period was turned on, the driver answers
    assert vms["np-without"].balloon is None
    assert vms["np-stopped"].balloon is None
    assert backend.capabilities().balloon
    assert backend.balloon("np-without") is None and backend.balloon("np-stopped") is None
    for dom in (with_balloon, without, stopped):
        if dom.isActive():
            dom.destroy()
        dom.undefine()


async def test_set_balloon_command_through_the_libvirt_backend(backend: LibvirtBackend) -> None:
    dom = backend.connection.defineXML(domain_xml("np-cmd", VIRTIO, max_mib=2048))
    dom.create()
    executor = Executor(AppliedLog(), lambda: None)
    executor.register("set_balloon", SetBalloonHandler(backend, lambda: None))
    result = await executor.execute(link_pb2.Command(
        id="c1", epoch=1, set_balloon=link_pb2.SetBalloon(vm="np-cmd", target_bytes=600 * MiB)))
    assert result.ok, result.message
    assert backend.balloon("np-cmd") is backend.balloon("np-cmd")  # one driver per domain
    (vm,) = [v for v in backend.observe().vms if v.name == "np-cmd"]
    assert vm.balloon is not None and vm.balloon.target_bytes == 600 * MiB
    refused = await executor.execute(link_pb2.Command(
        id="c2", epoch=1, set_balloon=link_pb2.SetBalloon(vm="np-cmd", target_bytes=3 << 30)))
    assert not refused.ok and "above the VM's maximum" in refused.message
    assert dom.info()[2] == 600 * 1024
    dom.destroy()
    dom.undefine()
