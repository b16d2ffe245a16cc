"""Write realistic sysfs and procfs trees into a directory, for the tests of the agent's
collectors and its linux backend.

The files copy the kernel's formats as found on a real machine: `node*/meminfo` with its
"Node <id> Name:  value kB" lines, `cpumap` as comma-grouped hex words, `distance` as one
line of numbers, CPU links in both directions, and offline CPUs handled as the kernel
does (gone from `cpulist`, `cpu/online` and `has_cpu`, still linked to their node).
Process trees have /proc/<pid>/{comm,cmdline,stat,status,numa_maps} and per-thread
`task/<tid>/{comm,stat,status}`; `sched_text` writes a thread's `sched` file (with the
NUMA balancing lines of a CONFIG_NUMA_BALANCING kernel, or without), `write_stat` moves a
thread to another CPU in place, and `write_numa_balancing` the kernel's mode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from numaplane.hostagent.collectors.cpulist import format_cpulist

GIB_KB = 1 << 20
"""One GiB in the kB (KiB) units of meminfo."""


@dataclass(frozen=True)
class NodeSpec:
    id: int
    cpus: tuple[int, ...]
    """Every CPU registered on the node, online or not."""
    memory_kb: int
    """MemTotal; 0 makes a memoryless node."""
    free_kb: int


@dataclass(frozen=True)
class MachineSpec:
    nodes: tuple[NodeSpec, ...]
    distances: tuple[tuple[int, ...], ...]
    offline_cpus: frozenset[int] = frozenset()
    numa: bool = True
    """False: a kernel without NUMA support, which has no devices/system/node."""
    possible_nodes: tuple[int, ...] | None = None
    """Defaults to the online nodes."""

    @property
    def all_cpus(self) -> frozenset[int]:
        return frozenset(c for n in self.nodes for c in n.cpus)

    @property
    def online_cpus(self) -> frozenset[int]:
        return self.all_cpus - self.offline_cpus


@dataclass(frozen=True)
class MachineTree:
    """Where a written machine lives: pass these as sysfs and proc roots."""

    sysfs: Path
    proc: Path
    spec: MachineSpec


def _smt_node(node: int, cores: int, siblings_offset: int, memory_gib: int) -> NodeSpec:
    """A node of `cores` cores whose hyperthread siblings are numbered `siblings_offset` on."""
    first = node * cores
    cpus = (
        *range(first, first + cores),
        *range(first + siblings_offset, first + siblings_offset + cores),
    )
    return NodeSpec(
        id=node, cpus=cpus, memory_kb=memory_gib * GIB_KB, free_kb=memory_gib * GIB_KB * 3 // 4
    )


def _socket_distances(
    node_count: int, nodes_per_socket: int, same_socket: int, other_socket: int
) -> tuple[tuple[int, ...], ...]:
    return tuple(
        tuple(
            10
            if a == b
            else same_socket
            if a // nodes_per_socket == b // nodes_per_socket
            else other_socket
            for b in range(node_count)
        )
        for a in range(node_count)
    )


TWO_NODE = MachineSpec(
    nodes=tuple(_smt_node(n, cores=4, siblings_offset=8, memory_gib=64) for n in range(2)),
    distances=((10, 21), (21, 10)),
)
"""Two sockets, 4 cores with SMT each (node 0: 0-3,8-11), 64 GiB per node."""

SNC4 = MachineSpec(
    nodes=tuple(_smt_node(n, cores=4, siblings_offset=16, memory_gib=32) for n in range(4)),
    distances=_socket_distances(4, nodes_per_socket=2, same_socket=11, other_socket=21),
)
"""Two Intel sockets with sub-NUMA clustering: nodes 0-1 share a socket (11), 2-3 the other."""

EPYC8 = MachineSpec(
    nodes=tuple(_smt_node(n, cores=4, siblings_offset=32, memory_gib=16) for n in range(8)),
    distances=_socket_distances(8, nodes_per_socket=4, same_socket=12, other_socket=32),
)
"""Two AMD EPYC sockets in NPS4: 8 nodes, 12 within a socket, 32 across."""

MEMORYLESS = MachineSpec(
    nodes=(
        NodeSpec(id=0, cpus=(0, 1, 2, 3), memory_kb=32 * GIB_KB, free_kb=20 * GIB_KB),
        NodeSpec(id=1, cpus=(4, 5, 6, 7), memory_kb=0, free_kb=0),
    ),
    distances=((10, 21), (21, 10)),
    possible_nodes=(0, 1, 2, 3),
)
"""Node 1 has CPUs and no memory; nodes 2-3 are possible (hotplug) but not online."""

OFFLINE_CPUS = MachineSpec(
    nodes=(
        NodeSpec(id=0, cpus=(0, 1, 2, 3), memory_kb=16 * GIB_KB, free_kb=8 * GIB_KB),
        NodeSpec(id=1, cpus=(4, 5, 6, 7), memory_kb=16 * GIB_KB, free_kb=12 * GIB_KB),
    ),
    distances=((10, 21), (21, 10)),
    offline_cpus=frozenset({3, 4, 5, 6, 7}),
)
"""CPU 3 and every CPU of node 1 offline: node 1's cpulist is empty and it leaves has_cpu."""

NON_NUMA = MachineSpec(
    nodes=(NodeSpec(id=0, cpus=(0, 1, 2, 3), memory_kb=8 * GIB_KB, free_kb=6 * GIB_KB),),
    distances=((10,),),
    numa=False,
)
"""A kernel without CONFIG_NUMA: no devices/system/node at all."""


def write_machine(root: Path, spec: MachineSpec) -> MachineTree:
    """Write `spec` as `root/sys` and `root/proc` (which then has only meminfo)."""
    sysfs = root / "sys"
    proc = root / "proc"
    _write_cpu_dir(sysfs / "devices/system/cpu", spec)
    if spec.numa:
        _write_node_dir(sysfs / "devices/system/node", spec)
    _write(proc / "meminfo", _proc_meminfo(spec))
    return MachineTree(sysfs=sysfs, proc=proc, spec=spec)


def cpumap(cpus: Iterable[int], nr_cpu_ids: int) -> str:
    """The kernel's hex mask: 32-bit words, most significant first, joined by commas."""
    mask = sum(1 << c for c in cpus)
    digits = f"{mask:0{(nr_cpu_ids + 3) // 4}x}"
    words: list[str] = []
    while digits:
        words.insert(0, digits[-8:])
        digits = digits[:-8]
    return ",".join(words)


def _write_cpu_dir(cpu_dir: Path, spec: MachineSpec) -> None:
    all_cpus = spec.all_cpus
    _write(cpu_dir / "possible", format_cpulist(all_cpus) + "\n")
    _write(cpu_dir / "present", format_cpulist(all_cpus) + "\n")
    _write(cpu_dir / "online", format_cpulist(spec.online_cpus) + "\n")
    _write(cpu_dir / "offline", format_cpulist(spec.offline_cpus) + "\n")
    _write(cpu_dir / "kernel_max", "8191\n")
    _write(cpu_dir / "isolated", "\n")
    for node in spec.nodes:
        for cpu in node.cpus:
            cpu_path = cpu_dir / f"cpu{cpu}"
            cpu_path.mkdir(parents=True)
            if cpu != 0:  # the boot CPU cannot be unplugged and has no online file
                _write(cpu_path / "online", "0\n" if cpu in spec.offline_cpus else "1\n")
            _write(cpu_path / "topology/physical_package_id", f"{node.id}\n")
            if spec.numa:
                (cpu_path / f"node{node.id}").symlink_to(f"../../node/node{node.id}")
    (cpu_dir / "cpufreq").mkdir()
    (cpu_dir / "cpuidle").mkdir()


def _write_node_dir(node_dir: Path, spec: MachineSpec) -> None:
    online = [n.id for n in spec.nodes]
    with_memory = [n.id for n in spec.nodes if n.memory_kb]
    with_cpu = [n.id for n in spec.nodes if set(n.cpus) - spec.offline_cpus]
    possible = spec.possible_nodes if spec.possible_nodes is not None else online
    _write(node_dir / "online", format_cpulist(online) + "\n")
    _write(node_dir / "possible", format_cpulist(possible) + "\n")
    _write(node_dir / "has_memory", format_cpulist(with_memory) + "\n")
    _write(node_dir / "has_normal_memory", format_cpulist(with_memory) + "\n")
    _write(node_dir / "has_cpu", format_cpulist(with_cpu) + "\n")
    _write(node_dir / "has_generic_initiator", "\n")
    nr_cpu_ids = max(spec.all_cpus) + 1
    for index, node in enumerate(spec.nodes):
        path = node_dir / f"node{node.id}"
        online_cpus = sorted(set(node.cpus) - spec.offline_cpus)
        _write(path / "cpulist", format_cpulist(online_cpus) + "\n")
        _write(path / "cpumap", cpumap(online_cpus, nr_cpu_ids) + "\n")
        _write(path / "distance", " ".join(str(d) for d in spec.distances[index]) + "\n")
        _write(path / "meminfo", node_meminfo(node.id, node.memory_kb, node.free_kb))
        _write(path / "numastat", _numastat())
        for cpu in node.cpus:
            (path / f"cpu{cpu}").symlink_to(f"../../cpu/cpu{cpu}")


def node_meminfo(node: int, total_kb: int, free_kb: int) -> str:
    """A `node<N>/meminfo` as the kernel prints it (labels padded to 16, values to 8)."""
    used = total_kb - free_kb
    sizes = [
        ("MemTotal:", total_kb),
        ("MemFree:", free_kb),
        ("MemUsed:", used),
        ("SwapCached:", 0),
        ("Active:", used // 3),
        ("Inactive:", used // 3),
        ("Active(anon):", used // 6),
        ("Inactive(anon):", used // 6),
        ("Active(file):", used // 6),
        ("Inactive(file):", used // 6),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
        ("Dirty:", 12),
        ("Writeback:", 0),
        ("FilePages:", used // 3),
        ("Mapped:", used // 12),
        ("AnonPages:", used // 3),
        ("Shmem:", used // 50),
        ("KernelStack:", 1428 if total_kb else 0),
        ("PageTables:", used // 200),
        ("SecPageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("KReclaimable:", used // 40),
        ("Slab:", used // 20),
        ("SReclaimable:", used // 40),
        ("SUnreclaim:", used // 40),
        ("AnonHugePages:", 0),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
        ("FilePmdMapped:", 0),
    ]
    lines = [f"Node {node} {label:<16}{value:>8} kB" for label, value in sizes]
    lines += [
        f"Node {node} {label:<16} {0:>5}"
        for label in ("HugePages_Total:", "HugePages_Free:", "HugePages_Surp:")
    ]
    return "\n".join(lines) + "\n"


def _proc_meminfo(spec: MachineSpec) -> str:
    total = sum(n.memory_kb for n in spec.nodes)
    free = sum(n.free_kb for n in spec.nodes)
    used = total - free
    sizes = [
        ("MemTotal:", total),
        ("MemFree:", free),
        ("MemAvailable:", free + used // 3),
        ("Buffers:", 7680),
        ("Cached:", used // 3),
        ("SwapCached:", 0),
        ("Active:", used // 3),
        ("Inactive:", used // 3),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
        ("Dirty:", 12),
        ("AnonPages:", used // 3),
        ("Mapped:", used // 12),
        ("Shmem:", used // 50),
        ("Slab:", used // 20),
        ("CommitLimit:", total // 2),
        ("Committed_AS:", used),
        ("VmallocTotal:", 34359738367),
        ("AnonHugePages:", 0),
    ]
    lines = [f"{label:<15}{value:>9} kB" for label, value in sizes]
    lines += [
        f"{label:<16}{0:>6}"
        for label in ("HugePages_Total:", "HugePages_Free:", "HugePages_Rsvd:", "HugePages_Surp:")
    ]
    lines += [f"{'Hugepagesize:':<15}{2048:>9} kB", f"{'Hugetlb:':<15}{0:>9} kB"]
    return "\n".join(lines) + "\n"


def _numastat() -> str:
    return "".join(
        f"{k} {v}\n"
        for k, v in (
            ("numa_hit", 1234567),
            ("numa_miss", 0),
            ("numa_foreign", 0),
            ("interleave_hit", 512),
            ("local_node", 1234000),
            ("other_node", 567),
        )
    )


# --- processes -------------------------------------------------------------------------


@dataclass(frozen=True)
class ThreadSpec:
    tid: int
    comm: str
    last_cpu: int
    allowed_cpus: frozenset[int]
    state: str = "S"


@dataclass(frozen=True)
class ProcessSpec:
    pid: int
    comm: str
    argv: tuple[str, ...]
    threads: tuple[ThreadSpec, ...]
    """The first thread is the main one; its tid should equal `pid`."""
    numa_maps: str
    vm_rss_kb: int = 0
    extra_files: dict[str, str] = field(default_factory=dict)


def write_process(proc_root: Path, spec: ProcessSpec) -> Path:
    """Write /proc/<pid> for `spec`; returns its directory."""
    path = proc_root / str(spec.pid)
    main = spec.threads[0]
    _write(path / "comm", spec.comm[:15] + "\n")
    (path / "cmdline").write_bytes(b"".join(a.encode() + b"\0" for a in spec.argv))
    _write(
        path / "stat",
        stat_line(spec.pid, spec.comm[:15], main.state, main.last_cpu, len(spec.threads)),
    )
    _write(path / "status", status_text(spec, main))
    _write(path / "numa_maps", spec.numa_maps)
    for thread in spec.threads:
        task = path / "task" / str(thread.tid)
        _write(task / "comm", thread.comm[:15] + "\n")
        _write(
            task / "stat",
            stat_line(
                thread.tid, thread.comm[:15], thread.state, thread.last_cpu, len(spec.threads)
            ),
        )
        _write(task / "status", status_text(spec, thread))
    for name, text in spec.extra_files.items():
        _write(path / name, text)
    return path


def stat_line(tid: int, comm: str, state: str, processor: int, threads: int = 1) -> str:
    """A /proc/<pid>/stat line (52 fields; "processor" is field 39) as the kernel prints it."""
    after_comm: Sequence[int | str] = (
        state,
        1,
        tid,
        tid,
        0,
        -1,
        4194368,
        51234,
        0,
        12,
        0,
        8812,
        2201,
        0,
        0,
        20,
        0,
        threads,
        0,
        24939,
        7081050112,
        262144,
        18446744073709551615,
        94779571056640,
        94779571076521,
        140730479632832,
        0,
        0,
        0,
        268444224,
        4096,
        1266,
        0,
        0,
        0,
        17,
        processor,
        0,
        0,
        0,
        553,
        0,
        94779571092528,
        94779571094144,
        94780167643136,
        140730479639236,
        140730479639256,
        140730479639256,
        140730479640555,
        0,
    )
    return f"{tid} ({comm}) " + " ".join(str(v) for v in after_comm) + "\n"


def status_text(spec: ProcessSpec, thread: ThreadSpec) -> str:
    """A /proc/<pid>[/task/<tid>]/status with the fields the real one has."""
    nr_cpu_ids = max(max(t.allowed_cpus, default=0) for t in spec.threads) + 1
    state_names = {"R": "R (running)", "S": "S (sleeping)", "Z": "Z (zombie)", "T": "T (stopped)"}
    rss = spec.vm_rss_kb
    rows = [
        ("Name", thread.comm[:15]),
        ("Umask", "0022"),
        ("State", state_names.get(thread.state, thread.state)),
        ("Tgid", str(spec.pid)),
        ("Ngid", "0"),
        ("Pid", str(thread.tid)),
        ("PPid", "1"),
        ("TracerPid", "0"),
        ("Uid", "107\t107\t107\t107"),
        ("Gid", "107\t107\t107\t107"),
        ("FDSize", "128"),
        ("Groups", "107 "),
        ("VmPeak", f"{rss + 524288:>8} kB"),
        ("VmSize", f"{rss + 524288:>8} kB"),
        ("VmLck", f"{0:>8} kB"),
        ("VmHWM", f"{rss:>8} kB"),
        ("VmRSS", f"{rss:>8} kB"),
        ("RssAnon", f"{rss * 9 // 10:>8} kB"),
        ("RssFile", f"{rss // 10:>8} kB"),
        ("RssShmem", f"{0:>8} kB"),
        ("HugetlbPages", f"{0:>8} kB"),
        ("Threads", str(len(spec.threads))),
        ("SigQ", "0/96365"),
        ("Cpus_allowed", cpumap(thread.allowed_cpus, nr_cpu_ids)),
        ("Cpus_allowed_list", format_cpulist(thread.allowed_cpus)),
        ("Mems_allowed", "00000000,00000003"),
        ("Mems_allowed_list", "0-1"),
        ("voluntary_ctxt_switches", "1502"),
        ("nonvoluntary_ctxt_switches", "31"),
    ]
    return "".join(f"{key}:\t{value}\n" for key, value in rows)


def write_stat(proc_root: Path, pid: int, thread: ThreadSpec, threads: int = 1) -> None:
    """Rewrite one thread's stat file (its CPU, its state) as one atomic replace, the way
    a reader of the real file never sees it half written."""
    path = proc_root / str(pid) / "task" / str(thread.tid) / "stat"
    tmp = path.with_name("stat.tmp")
    tmp.write_text(stat_line(thread.tid, thread.comm[:15], thread.state, thread.last_cpu, threads))
    os.replace(tmp, path)


def write_numa_balancing(proc_root: Path, mode: int | str) -> None:
    """/proc/sys/kernel/numa_balancing (0 off, 1 on, 2 tiering, 3 both)."""
    _write(proc_root / "sys/kernel/numa_balancing", f"{mode}\n")


def sched_text(
    comm: str,
    tid: int,
    *,
    numa: bool = True,
    preferred: int = -1,
    current: int = 0,
    migrated: int = 0,
    faults: Mapping[int, tuple[int, int]] | None = None,
    group_faults: Mapping[int, tuple[int, int]] | None = None,
) -> str:
    """A /proc/<pid>/task/<tid>/sched as a 6.x kernel prints it (kernel/sched/debug.c):
    `faults` is node -> (task_private, task_shared); `numa=False` leaves the NUMA lines out
    (a kernel without CONFIG_NUMA_BALANCING)."""

    def row(key: str, value: str) -> str:
        return f"{key:<45}:{value:>21}\n"

    lines = [f"{comm} ({tid}, #threads: 3)\n", "-" * 67 + "\n"]
    lines += [
        row("se.exec_start", "4703297.989257"),
        row("se.vruntime", "33590.264186"),
        row("se.sum_exec_runtime", "1201.392036"),
        row("se.nr_migrations", "17"),
        row("nr_switches", "5120"),
        row("nr_voluntary_switches", "5003"),
        row("nr_involuntary_switches", "117"),
        row("se.load.weight", "1048576"),
        row("policy", "0"),
        row("prio", "120"),
        row("clock-delta", "51"),
    ]
    if numa:
        lines += [
            row("mm->numa_scan_seq", "7"),
            row("numa_pages_migrated", str(migrated)),
            row("numa_preferred_nid", str(preferred)),
            row("total_numa_faults", str(sum(p + s for p, s in (faults or {}).values()))),
            f"current_node={current}, numa_group_id=0\n",
        ]
        for node in sorted(set(faults or {}) | set(group_faults or {})):
            tp, ts = (faults or {}).get(node, (0, 0))
            gp, gs = (group_faults or {}).get(node, (0, 0))
            lines.append(
                f"numa_faults node={node} task_private={tp} task_shared={ts} "
                f"group_private={gp} group_shared={gs}\n"
            )
    return "".join(lines)


_HUGE_RAM = "file=/dev/hugepages/libvirt/qemu/3-web-1/qemu_back_mem.ram-node"
QEMU_NUMA_MAPS = "".join(
    line + "\n"
    for line in (
        "55d4c8a00000 default file=/usr/bin/qemu-system-x86_64 mapped=212 mapmax=3 N0=212"
        " kernelpagesize_kB=4",
        "55d4c8ad4000 default file=/usr/bin/qemu-system-x86_64 mapped=1790 mapmax=3 N0=1600"
        " N1=190 kernelpagesize_kB=4",
        "55d4c9a00000 default file=/usr/bin/qemu-system-x86_64 anon=45 dirty=45 mapped=301"
        " mapmax=3 active=0 N0=301 kernelpagesize_kB=4",
        "55d4cb1c3000 default heap anon=6523 dirty=6523 active=2 N0=6011 N1=512"
        " kernelpagesize_kB=4",
        f"7f3a00000000 bind:0 {_HUGE_RAM}0.Qd1xz3\\040(deleted) huge dirty=1024 mapmax=2"
        " N0=1024 kernelpagesize_kB=2048",
        f"7f3a80000000 bind:1 {_HUGE_RAM}1.Zk82Lm\\040(deleted) huge dirty=1000 mapmax=2"
        " N0=24 N1=976 kernelpagesize_kB=2048",
        "7f3c40000000 default anon=131072 dirty=131072 active=0 N0=98304 N1=32768"
        " kernelpagesize_kB=4",
        "7f3e00000000 default",
        "7f3e00021000 default",
        "7f3e7c000000 interleave:0-1 anon=8 dirty=8 N0=4 N1=4 kernelpagesize_kB=4",
        "7f3e80000000 prefer (many):0-1 anon=2 dirty=2 active=0 N1=2 kernelpagesize_kB=4",
        "7f3e80200000 default file=/usr/lib/x86_64-linux-gnu/libc.so.6 mapped=203 mapmax=9"
        " N0=203 kernelpagesize_kB=4",
        "7ffd2bd4e000 default stack anon=33 dirty=33 active=1 N0=33 kernelpagesize_kB=4",
        "7ffd2bdf5000 default",
    )
)
"""numa_maps of a QEMU guest with 4 GiB in 2 MiB huge pages, plus anon, file and empty maps."""

QEMU_NUMA_MAPS_PAGES_4K = {
    0: 212 + 1600 + 301 + 6011 + 98304 + 4 + 203 + 33,
    1: 190 + 512 + 32768 + 4 + 2,
}
QEMU_NUMA_MAPS_PAGES_2M = {0: 1024 + 24, 1: 976}
QEMU_NUMA_MAPS_BYTES = {
    node: QEMU_NUMA_MAPS_PAGES_4K[node] * 4096 + QEMU_NUMA_MAPS_PAGES_2M[node] * (2 << 20)
    for node in (0, 1)
}
"""What QEMU_NUMA_MAPS sums to, per node, worked out by hand."""


def qemu_process(
    pid: int,
    *,
    guest: str,
    vcpu_cpus: Sequence[tuple[int, frozenset[int]]],
    numa_maps: str = QEMU_NUMA_MAPS,
) -> ProcessSpec:
    """A QEMU/KVM process as libvirt starts it: main, I/O and "CPU <n>/KVM" threads.

    `vcpu_cpus[n]` is (last CPU, affinity) of vCPU n. The non-vCPU threads may run
    anywhere, so a backend that counted them would be caught by the tests.
    """
    everywhere = frozenset(range(16))
    threads = [
        ThreadSpec(tid=pid, comm="qemu-system-x86", last_cpu=15, allowed_cpus=everywhere),
        ThreadSpec(tid=pid + 1, comm="qemu-system-x86", last_cpu=14, allowed_cpus=everywhere),
        ThreadSpec(tid=pid + 2, comm="IO mon_iothread", last_cpu=13, allowed_cpus=everywhere),
    ]
    # Thread ids are not in vCPU order: QEMU may create them in any order.
    for n, (last, allowed) in reversed(list(enumerate(vcpu_cpus))):
        threads.append(
            ThreadSpec(
                tid=pid + 10 + len(vcpu_cpus) - n,
                comm=f"CPU {n}/KVM",
                last_cpu=last,
                allowed_cpus=allowed,
            )
        )
    threads.append(
        ThreadSpec(tid=pid + 40, comm="vhost-" + str(pid), last_cpu=12, allowed_cpus=everywhere)
    )
    return ProcessSpec(
        pid=pid,
        comm="qemu-system-x86_64",
        argv=(
            "/usr/bin/qemu-system-x86_64",
            "-name",
            f"guest={guest},debug-threads=on",
            "-S",
            "-machine",
            "pc-q35-8.2,usb=off,dump-guest-core=off",
            "-m",
            "size=4194304k",
            "-smp",
            f"{len(vcpu_cpus)},sockets=1,cores={len(vcpu_cpus)}",
        ),
        threads=tuple(threads),
        numa_maps=numa_maps,
        vm_rss_kb=612345,
    )


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
