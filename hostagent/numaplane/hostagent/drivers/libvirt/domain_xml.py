"""Domain XML both ways: the domain a StartVm defines, and a domain's NUMA settings read back.

What numaplane puts in a domain (and so reads back from any domain):

    <vcpu placement='static' cpuset='8-15'>2</vcpu>
    <cputune><vcpupin vcpu='0' cpuset='8-15'/><vcpupin vcpu='1' cpuset='8-15'/></cputune>
    <numatune><memory mode='strict' nodeset='1'/></numatune>

Each vCPU is pinned to the CPUs of the chosen nodes (affinity to the nodes, not one CPU
per vCPU: the host scheduler still balances within them), and memory is bound to the
nodes: `strict` when the placement binds it, otherwise `preferred` for one node and
`interleave` for several (libvirt's `preferred` takes a single node only).

The domain defined is minimal — no disks, no network: placement decides where a VM runs,
and a guest image is the operator's business (a template is future work). Reading back
uses the XML, not `virDomainGetVcpuPinInfo`, because the XML is what every driver keeps
exactly as defined (the test driver's pin info covers only its first 8 CPUs).

libvirt's cpuset syntax is the kernel's list ("0-3,8") plus exclusions ("0-7,^3").
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass

from numaplane.hostagent.collectors.cpulist import CpuListError, format_cpulist, parse_cpulist
from numaplane.hostagent.drivers.contract import BackendError, VmStart
from numaplane.hostagent.drivers.libvirt.topology import memory_bytes


def parse_cpuset(text: str) -> frozenset[int]:
    """libvirt cpuset ("0-7,^3") -> ids; raises BackendError on bad text."""
    include: set[int] = set()
    exclude: set[int] = set()
    try:
        for part in (p.strip() for p in text.split(",") if p.strip()):
            if part.startswith("^"):
                exclude |= parse_cpulist(part[1:])
            else:
                include |= parse_cpulist(part)
    except CpuListError as e:
        raise BackendError(f"bad libvirt cpuset {text!r}: {e}") from None
    return frozenset(include - exclude)


@dataclass(frozen=True)
class DomainNuma:
    """A domain's size and NUMA settings, as its XML states them."""

    name: str
    uuid: str
    vcpus: int
    memory_bytes: int
    """Maximum memory (`<memory>`)."""
    current_memory_bytes: int
    """Balloon target (`<currentMemory>`), = memory_bytes when absent."""
    memory_mode: str | None
    """strict | preferred | interleave | restrictive; None without `<numatune>`."""
    memory_nodes: tuple[int, ...]
    vcpu_pins: tuple[tuple[int, ...], ...]
    """Per vCPU, the CPUs it may run on (from `<vcpupin>`, else `<vcpu cpuset>`, else ())."""

    @property
    def allowed_cpus(self) -> tuple[int, ...]:
        return tuple(sorted({c for pin in self.vcpu_pins for c in pin}))


def read_domain(xml: str) -> DomainNuma:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as e:
        raise BackendError(f"domain XML is not XML: {e}") from None
    vcpu = root.find("vcpu")
    count = int((vcpu.text or "1").strip()) if vcpu is not None else 1
    default_pin = parse_cpuset(vcpu.get("cpuset", "")) if vcpu is not None else frozenset()
    pins: dict[int, frozenset[int]] = {
        int(p.get("vcpu", "-1")): parse_cpuset(p.get("cpuset", ""))
        for p in root.findall("./cputune/vcpupin")
    }
    memory = memory_bytes(root.find("memory"))
    current = memory_bytes(root.find("currentMemory")) or memory
    numa = root.find("./numatune/memory")
    nodes = parse_cpuset(numa.get("nodeset", "")) if numa is not None else frozenset()
    return DomainNuma(
        name=root.findtext("name", "").strip(),
        uuid=root.findtext("uuid", "").strip(),
        vcpus=count,
        memory_bytes=memory,
        current_memory_bytes=current,
        memory_mode=numa.get("mode", "strict") if numa is not None else None,
        memory_nodes=tuple(sorted(nodes)),
        vcpu_pins=tuple(tuple(sorted(pins.get(i, default_pin))) for i in range(count)),
    )


def memory_mode(start: VmStart) -> str | None:
    """The numatune mode for a start request; None = no binding."""
    if not start.nodes:
        return None
    if start.strict_memory:
        return "strict"
    return "preferred" if len(start.nodes) == 1 else "interleave"


def domain_xml(start: VmStart, *, domain_type: str, arch: str) -> str:
    """The XML of the minimal domain StartVm defines."""
    root = ET.Element("domain", type=domain_type)
    ET.SubElement(root, "name").text = start.name
    ET.SubElement(root, "memory", unit="KiB").text = str(_kib(start.memory_bytes))
    ET.SubElement(root, "currentMemory", unit="KiB").text = str(_kib(start.boot_bytes))
    vcpu = ET.SubElement(root, "vcpu", placement="static")
    vcpu.text = str(start.vcpus)
    if start.cpus:
        cpuset = format_cpulist(start.cpus)
        vcpu.set("cpuset", cpuset)
        cputune = ET.SubElement(root, "cputune")
        for i in range(start.vcpus):
            ET.SubElement(cputune, "vcpupin", vcpu=str(i), cpuset=cpuset)
    mode = memory_mode(start)
    if mode is not None:
        numatune = ET.SubElement(root, "numatune")
        ET.SubElement(numatune, "memory", mode=mode, nodeset=format_cpulist(start.nodes))
    os_ = ET.SubElement(root, "os")
    ET.SubElement(os_, "type", arch=arch).text = "hvm"
    ET.SubElement(root, "on_poweroff").text = "destroy"
    ET.SubElement(root, "on_crash").text = "destroy"
    ET.SubElement(root, "devices")
    return ET.tostring(root, encoding="unicode")


def _kib(nbytes: int) -> int:
    """Bytes to KiB, rounded up (libvirt sizes memory in KiB)."""
    return -(-nbytes // 1024)


def split_evenly(total: int, nodes: Iterable[int]) -> dict[int, int]:
    """`total` bytes over `nodes` in equal shares (the remainder to the first ones)."""
    ids = sorted(set(nodes))
    if not ids:
        return {}
    share, extra = divmod(total, len(ids))
    return {n: share + (1 if i < extra else 0) for i, n in enumerate(ids)}
