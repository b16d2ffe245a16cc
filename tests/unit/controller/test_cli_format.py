"""Pure formatting rules of the CLI: memory bar cells, CPU lists, ages."""

from __future__ import annotations

import pytest

from numaplane.controller.cli.fmt import age, count, cpulist, percent
from numaplane.controller.cli.membar import split_cells


@pytest.mark.parametrize(
    ("sizes", "width", "cells"),
    [
        ([1, 1], 10, [5, 5]),
        ([6, 1, 1, 8], 16, [6, 1, 1, 8]),
        ([0, 0], 10, [0, 0]),
        ([1, 10_000], 10, [1, 9]),  # a tiny VM still gets a cell
        ([1, 1, 1], 2, [1, 1, 0]),  # more parts than cells: the total still holds
        ([-5, 10], 4, [0, 4]),
        ([3, 3, 3], 10, [4, 3, 3]),
    ],
)
def test_split_cells(sizes: list[int], width: int, cells: list[int]) -> None:
    assert split_cells(sizes, width) == cells


@pytest.mark.parametrize("width", [1, 7, 64, 100])
def test_split_cells_always_fills_the_bar(width: int) -> None:
    sizes = [1, 2, 3, 5, 8, 13, 21, 34, 0, 1 << 30]
    assert sum(split_cells(sizes, width)) == width


def test_cpulist() -> None:
    assert cpulist([0, 1, 2, 3, 8, 10, 11]) == "0-3,8,10-11"
    assert cpulist([5]) == "5"
    assert cpulist([3, 1, 2, 2]) == "1-3"
    assert cpulist([]) == "-"


def test_small_words() -> None:
    assert percent(0.875) == "88%"
    assert count(1, "VM") == "1 VM"
    assert count(2, "VM") == "2 VMs"
    assert age(0) == "never"
    assert age(100.0, now=103.5) == "3s ago"
    assert age(100.0, now=100.0 + 3 * 3600 + 5) == "3h ago"
