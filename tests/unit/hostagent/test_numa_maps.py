"""Memory per NUMA node from numa_maps: real-looking texts and this very process."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from numaplane.hostagent.collectors.host_files import HostFileError, ProcessGone
from numaplane.hostagent.collectors.numa_maps import parse_numa_maps, read_numa_maps
from numaplane.hostagent.collectors.sysfs_topology import read_sysfs_topology
from tests.support.sysfs_trees import QEMU_NUMA_MAPS, QEMU_NUMA_MAPS_BYTES

MiB = 1 << 20


def test_qemu_guest_with_huge_pages_anon_and_file_mappings() -> None:
    assert parse_numa_maps(QEMU_NUMA_MAPS) == QEMU_NUMA_MAPS_BYTES


def test_huge_pages_count_at_their_own_size() -> None:
    text = (
        "7f0000000000 bind:1 file=/dev/hugepages1G/vm.ram huge dirty=3 N1=3"
        " kernelpagesize_kB=1048576\n"
        "7f2000000000 default file=/dev/hugepages/vm.ram huge dirty=10 N0=10"
        " kernelpagesize_kB=2048\n"
    )
    assert parse_numa_maps(text) == {0: 10 * 2 * MiB, 1: 3 << 30}


def test_transparent_huge_pages_are_counted_in_base_pages() -> None:
    # A 2 MiB THP shows as 512 pages of 4 kB (the mapping is not hugetlbfs).
    text = "7f3c40000000 default anon=512 dirty=512 active=0 N0=512 kernelpagesize_kB=4\n"
    assert parse_numa_maps(text) == {0: 2 * MiB}


def test_mappings_without_resident_pages_add_nothing() -> None:
    text = "7fdd3667c000 default\n7fdd36680000 default\n7ffd2bdf5000 bind:0\n"
    assert parse_numa_maps(text) == {}
    assert parse_numa_maps("") == {}


def test_lines_without_a_page_size_use_the_given_one() -> None:
    text = "00400000 default file=/bin/old mapped=5 N0=5\n00600000 default anon=1 N1=1\n"
    assert parse_numa_maps(text, page_size=8192) == {0: 5 * 8192, 1: 8192}
    assert parse_numa_maps(text) == {
        0: 5 * os.sysconf("SC_PAGE_SIZE"),
        1: os.sysconf("SC_PAGE_SIZE"),
    }


def test_policies_with_spaces_and_file_names_that_look_like_counts() -> None:
    text = (
        "7f0000000000 weighted interleave:0-1 anon=4 N0=2 N1=2 kernelpagesize_kB=4\n"
        "7f0000100000 prefer (many):0-1 anon=1 N1=1 kernelpagesize_kB=4\n"
        "7f0000200000 default file=/tmp/N0=999\\040x mapped=1 N0=1 kernelpagesize_kB=4\n"
    )
    assert parse_numa_maps(text) == {0: 3 * 4096, 1: 3 * 4096}


@pytest.mark.parametrize(
    "token", ["N0=many", "Nx=3", "N1=-2", "kernelpagesize_kB=4k", "kernelpagesize_kB="]
)
def test_malformed_counts_name_the_line(token: str) -> None:
    text = f"7f0000000000 default anon=1 N0=1 kernelpagesize_kB=4\n7f01 default anon=1 {token}\n"
    with pytest.raises(ValueError, match="line 2"):
        parse_numa_maps(text)


def test_reader_names_the_file_when_it_cannot_be_understood(tmp_path: Path) -> None:
    (tmp_path / "77").mkdir()
    (tmp_path / "77/numa_maps").write_text("7f01 default anon=1 N0=lots kernelpagesize_kB=4\n")
    with pytest.raises(HostFileError, match=r"77/numa_maps: line 1"):
        read_numa_maps(77, tmp_path)


def test_reader_on_a_process_that_is_gone(tmp_path: Path) -> None:
    with pytest.raises(ProcessGone):
        read_numa_maps(12345, tmp_path)


def test_this_process_grows_when_it_touches_64_mib() -> None:
    """The real /proc/self/numa_maps, before and after touching every page of 64 MiB."""
    node_ids = set(read_sysfs_topology().node_ids)
    before = read_numa_maps(os.getpid())
    assert before and set(before) <= node_ids
    size = 64 * MiB
    buffer = bytearray(size)
    buffer[::4096] = b"\x01" * len(range(0, size, 4096))  # touch every page
    after = read_numa_maps(os.getpid())
    grown = sum(after.values()) - sum(before.values())
    assert grown >= 60 * MiB
    assert set(after) <= node_ids
    del buffer
