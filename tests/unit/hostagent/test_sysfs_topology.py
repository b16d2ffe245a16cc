"""Reading the NUMA topology from sysfs: fixture machines, this machine, broken trees."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest

from numaplane.hostagent.collectors.cpulist import parse_cpulist
from numaplane.hostagent.collectors.host_files import HostFileError
from numaplane.hostagent.collectors.meminfo import parse_meminfo
from numaplane.hostagent.collectors.sysfs_topology import (
    read_free_by_node,
    read_node_states,
    read_online_cpus,
    read_sysfs_topology,
)
from tests.support.sysfs_trees import (
    EPYC8,
    GIB_KB,
    MEMORYLESS,
    NON_NUMA,
    OFFLINE_CPUS,
    SNC4,
    TWO_NODE,
    MachineTree,
    node_meminfo,
    write_machine,
)

GiB = 1 << 30


def node_dir(tree: MachineTree) -> Path:
    return tree.sysfs / "devices/system/node"


def cpu_dir(tree: MachineTree) -> Path:
    return tree.sysfs / "devices/system/cpu"


def test_two_node_machine(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node_ids == (0, 1)
    assert topo.node(0).cpus == (0, 1, 2, 3, 8, 9, 10, 11)
    assert topo.node(1).cpus == (4, 5, 6, 7, 12, 13, 14, 15)
    assert topo.distance(0, 1) == topo.distance(1, 0) == 21
    assert topo.node(1).memory_total_bytes == 64 * GiB
    assert topo.node(1).memory_free_bytes == 48 * GiB
    assert all(not n.offline_cpus and not n.memoryless for n in topo.nodes)


def test_snc_machine_has_near_and_far_remote_nodes(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, SNC4)
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node_ids == (0, 1, 2, 3)
    assert topo.distance(0, 1) == topo.distance(2, 3) == 11
    assert topo.distance(0, 2) == topo.distance(1, 3) == 21
    assert topo.node_of_cpu(20) == 1
    assert topo.cpu_count == 32


def test_epyc_machine(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, EPYC8)
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert len(topo.nodes) == 8
    assert topo.distance(0, 3) == 12
    assert topo.distance(0, 4) == topo.distance(7, 3) == 32
    assert topo.node(5).cpus == (20, 21, 22, 23, 52, 53, 54, 55)
    assert topo.memory_total_bytes == 8 * 16 * GiB


def test_memoryless_node_keeps_its_cpus(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, MEMORYLESS)
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node(1).memoryless
    assert topo.node(1).cpus == (4, 5, 6, 7)
    assert not topo.node(0).memoryless
    states = read_node_states(tree.sysfs)
    assert states.online == {0, 1}
    assert states.possible == frozenset({0, 1, 2, 3})
    assert states.has_memory == frozenset({0})
    assert states.has_cpu == frozenset({0, 1})
    assert read_free_by_node(tree.sysfs, tree.proc) == {0: 20 * GiB, 1: 0}


def test_node_missing_from_has_memory_is_memoryless_whatever_meminfo_says(
    tmp_path: Path,
) -> None:
    tree = write_machine(tmp_path, MEMORYLESS)
    # A stale meminfo must not give memory to a node the kernel says has none.
    meminfo = node_dir(tree) / "node1/meminfo"
    meminfo.write_text(node_meminfo(1, total_kb=1024, free_kb=512))
    assert read_sysfs_topology(tree.sysfs, tree.proc).node(1).memoryless


def test_memoryless_from_meminfo_alone_on_kernels_without_has_memory(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, MEMORYLESS)
    (node_dir(tree) / "has_memory").unlink()
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node(1).memoryless
    assert topo.node(0).memory_total_bytes == 32 * GiB


def test_offline_cpus_stay_on_their_node(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, OFFLINE_CPUS)
    # What the kernel shows: cpulist has only online CPUs, node 1's is empty.
    assert (node_dir(tree) / "node1/cpulist").read_text() == "\n"
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node(0).cpus == (0, 1, 2)
    assert topo.node(0).offline_cpus == (3,)
    assert topo.node(1).cpus == ()
    assert topo.node(1).offline_cpus == (4, 5, 6, 7)
    assert topo.node(1).memory_total_bytes == 16 * GiB
    assert topo.node_of_cpu(3) is None
    assert topo.cpu_count == 3
    assert read_node_states(tree.sysfs).has_cpu == frozenset({0})


def test_offline_cpus_found_from_either_link_direction(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, OFFLINE_CPUS)
    for link in node_dir(tree).glob("node*/cpu[0-9]*"):
        link.unlink()  # only cpu/cpu<K>/node<N> remains
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node(1).offline_cpus == (4, 5, 6, 7)

    tree = write_machine(tmp_path / "other", OFFLINE_CPUS)
    for link in cpu_dir(tree).glob("cpu[0-9]*/node*"):
        link.unlink()  # only node<N>/cpu<K> remains
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node(0).offline_cpus == (3,)
    assert topo.node(1).offline_cpus == (4, 5, 6, 7)


def test_per_cpu_online_files_when_the_global_one_is_missing(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, OFFLINE_CPUS)
    (cpu_dir(tree) / "online").unlink()
    # cpu0 has no online file (it cannot be unplugged) and counts as online.
    assert not (cpu_dir(tree) / "cpu0/online").exists()
    assert read_online_cpus(tree.sysfs) == frozenset({0, 1, 2})
    assert read_sysfs_topology(tree.sysfs, tree.proc).node(0).offline_cpus == (3,)


def test_non_numa_kernel_is_one_node_with_proc_meminfo(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, NON_NUMA)
    assert not node_dir(tree).exists()
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node_ids == (0,)
    assert topo.node(0).cpus == (0, 1, 2, 3)
    assert topo.node(0).memory_total_bytes == 8 * GiB
    assert topo.node(0).memory_free_bytes == 6 * GiB
    assert topo.distances == ((10,),)
    assert read_free_by_node(tree.sysfs, tree.proc) == {0: 6 * GiB}


def test_non_numa_kernel_with_an_offline_cpu(tmp_path: Path) -> None:
    spec = dataclasses.replace(NON_NUMA, offline_cpus=frozenset({2}))
    tree = write_machine(tmp_path, spec)
    node = read_sysfs_topology(tree.sysfs, tree.proc).node(0)
    assert node.cpus == (0, 1, 3)
    assert node.offline_cpus == (2,)


def test_free_by_node_matches_topology(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, SNC4)
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert read_free_by_node(tree.sysfs, tree.proc) == {
        n.id: n.memory_free_bytes for n in topo.nodes
    }


def test_sparse_node_ids(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    # Renumber node 1 as node 2 throughout, as on a machine whose node 1 is not online.
    nodes = node_dir(tree)
    shutil.move(nodes / "node1", nodes / "node2")
    (nodes / "online").write_text("0,2\n")
    (nodes / "possible").write_text("0-2\n")
    (nodes / "has_memory").write_text("0,2\n")
    meminfo = nodes / "node2/meminfo"
    meminfo.write_text(meminfo.read_text().replace("Node 1 ", "Node 2 "))
    for cpu_link in cpu_dir(tree).glob("cpu*/node1"):
        cpu_link.unlink()
        (cpu_link.parent / "node2").symlink_to("../../node/node2")
    topo = read_sysfs_topology(tree.sysfs, tree.proc)
    assert topo.node_ids == (0, 2)
    assert topo.distance(0, 2) == 21
    assert topo.node_of_cpu(15) == 2


# --- this machine ------------------------------------------------------------------------


def test_this_machine() -> None:
    """Whatever this machine is, its topology agrees with what the OS says elsewhere.

    Per-node MemTotal can be below /proc/meminfo's MemTotal: kernels that initialise
    memory lazily (deferred_init) count a node's pages only once they are touched.
    """
    topo = read_sysfs_topology()
    online = parse_cpulist(Path("/sys/devices/system/cpu/online").read_text())
    assert topo.cpu_count == len(online) == os.cpu_count()
    assert {c for n in topo.nodes for c in n.cpus} == online
    assert os.sched_getaffinity(0) <= online
    proc = parse_meminfo(Path("/proc/meminfo").read_text(), Path("/proc/meminfo"))
    assert 0 < topo.memory_total_bytes <= proc["MemTotal"] * 1024
    assert 0 <= topo.memory_free_bytes <= topo.memory_total_bytes
    if Path("/sys/devices/system/node").is_dir():
        nodes_online = parse_cpulist(Path("/sys/devices/system/node/online").read_text())
        assert set(topo.node_ids) == nodes_online
    assert set(read_free_by_node()) == set(topo.node_ids)
    for a in topo.node_ids:
        assert topo.distance(a, a) == 10
        for b in topo.node_ids:
            assert topo.distance(a, b) >= 10


# --- broken trees --------------------------------------------------------------------------


def test_distance_with_the_wrong_number_of_entries(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, SNC4)
    (node_dir(tree) / "node2/distance").write_text("21 21 10\n")
    with pytest.raises(HostFileError, match=r"node2/distance: has 3 distance\(s\), expected 4"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_distance_that_is_not_numbers(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "node0/distance").write_text("10 twenty-one\n")
    with pytest.raises(HostFileError, match=r"node0/distance: distances must be integers"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_cpulist_that_cannot_be_parsed(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "node1/cpulist").write_text("4-7,twelve\n")
    with pytest.raises(HostFileError, match=r"node1/cpulist: cannot parse 'twelve'"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_cpu_online_that_cannot_be_parsed(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (cpu_dir(tree) / "online").write_text("0-15:2\n")
    with pytest.raises(HostFileError, match=r"cpu/online: cannot parse"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_impossible_self_distance_names_the_node_directory(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "node1/distance").write_text("21 20\n")
    with pytest.raises(HostFileError, match=r"system/node: describes an impossible topology"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_cpu_on_two_nodes(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "node1/cpulist").write_text("3-7,12-15\n")
    with pytest.raises(HostFileError, match=r"CPU 3 belongs to more than one node"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_meminfo_without_memtotal(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    meminfo = node_dir(tree) / "node0/meminfo"
    meminfo.write_text(
        "".join(line + "\n" for line in meminfo.read_text().splitlines() if "MemTotal" not in line)
    )
    with pytest.raises(HostFileError, match=r"node0/meminfo: has no MemTotal line"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_meminfo_about_another_node(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    meminfo = node_dir(tree) / "node1/meminfo"
    meminfo.write_text(meminfo.read_text().replace("Node 1 ", "Node 0 "))
    with pytest.raises(HostFileError, match=r"node1/meminfo: line 1 is not about node 1"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_online_node_without_a_directory(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "online").write_text("0-2\n")
    with pytest.raises(HostFileError, match=r"node/online: lists node\(s\) \[2\]"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_possible_must_include_online(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "possible").write_text("0\n")
    with pytest.raises(HostFileError, match=r"node/possible: does not include online"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_missing_cpulist(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, TWO_NODE)
    (node_dir(tree) / "node0/cpulist").unlink()
    with pytest.raises(HostFileError, match=r"node0/cpulist: file does not exist"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_non_numa_without_proc_meminfo(tmp_path: Path) -> None:
    tree = write_machine(tmp_path, NON_NUMA)
    (tree.proc / "meminfo").unlink()
    with pytest.raises(HostFileError, match=r"proc/meminfo: file does not exist"):
        read_sysfs_topology(tree.sysfs, tree.proc)


def test_fixture_meminfo_looks_like_the_kernels() -> None:
    text = node_meminfo(0, 4679884, 4309624)
    assert "Node 0 MemTotal:        4679884 kB\n" in text
    assert "Node 0 Inactive(file):" in text
    assert "Node 0 HugePages_Total:     0\n" in text
    assert parse_meminfo(text, Path("x"), node=0)["MemFree"] == 4309624
    assert GIB_KB == 1024 * 1024
