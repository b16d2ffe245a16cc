"""The kernel's range syntax, as found in cpulist, online, has_memory and Cpus_allowed_list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from numaplane.hostagent.collectors.cpulist import CpuListError, format_cpulist, parse_cpulist


@pytest.mark.parametrize(
    ("text", "ids"),
    [
        ("0-3,8-11\n", {0, 1, 2, 3, 8, 9, 10, 11}),
        ("0\n", {0}),
        ("0-0", {0}),
        ("", set()),
        ("\n", set()),
        ("1,3,5-6", {1, 3, 5, 6}),
        ("  4-5 \n", {4, 5}),
    ],
)
def test_parses_ranges_singles_and_empty(text: str, ids: set[int]) -> None:
    assert parse_cpulist(text) == frozenset(ids)


@pytest.mark.parametrize("text", ["3-1", "a", "0-3:2/4", "1,,2", "0x3", "-1", "1-"])
def test_rejects_what_the_kernel_never_prints(text: str) -> None:
    with pytest.raises(CpuListError, match="list"):
        parse_cpulist(text)


def test_formats_as_the_kernel_does() -> None:
    assert format_cpulist([11, 0, 1, 2, 3, 8, 9, 10]) == "0-3,8-11"
    assert format_cpulist([]) == ""
    assert format_cpulist([5]) == "5"


@given(st.frozensets(st.integers(min_value=0, max_value=512)))
def test_format_then_parse_is_identity(ids: frozenset[int]) -> None:
    assert parse_cpulist(format_cpulist(ids)) == ids
