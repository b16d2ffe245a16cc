"""The kernel's arithmetic as the autonuma model writes it: scan windows and periods
(task_nr_scan_windows, task_scan_min/max, update_task_scan_period), the page filter
(should_numa_migrate_memory) on single fault amounts, and the topology types and
preferred node (init_numa_topology_type, preferred_group_nid)."""

from __future__ import annotations

import random

from numaplane.bench.autonuma import AutoNumaSettings
from numaplane.bench.autonuma.group import GroupFaults, migrated
from numaplane.bench.autonuma.pages import Fault, PageState
from numaplane.bench.autonuma.scan_period import (
    PassFaults,
    Sharing,
    adapt_period,
    scan_period_max,
    scan_period_min,
    scan_windows,
)
from numaplane.bench.autonuma.topology import NumaTopology, NumaTopologyType
from numaplane.common.units import GiB, MiB

DEFAULTS = AutoNumaSettings()
RING = [[10, 16, 16, 22], [16, 10, 22, 16], [16, 22, 10, 16], [22, 16, 16, 10]]
SNC = [[10, 11, 21, 21], [11, 10, 21, 21], [21, 21, 10, 11], [21, 21, 11, 10]]


def test_a_pass_takes_scan_period_min_divided_into_windows() -> None:
    assert scan_windows(1 * GiB, DEFAULTS) == 4
    assert scan_period_min(1 * GiB, DEFAULTS) == 250  # 4 x 250 ms = 1 s a pass
    assert scan_period_max(1 * GiB, DEFAULTS, None) == 15000  # 60 s a pass
    assert scan_windows(1 * GiB + 1, DEFAULTS) == 5  # a partial window counts


def test_the_scan_rate_never_exceeds_2560_mb_per_second() -> None:
    # 24 GiB is 96 windows: 1000 / 96 would be 10 ms, the floor is 1000 / (2560 / 256).
    assert scan_period_min(24 * GiB, DEFAULTS) == 100


def test_a_group_sharing_memory_scans_less_often() -> None:
    # task_scan_max x tasks x (shared + 1) / (private + shared + 1): four threads whose
    # faults are three quarters shared stretch the slowest period threefold.
    sharing = Sharing(tasks=4, shared=3000.0, private=1000.0)
    assert scan_period_max(1 * GiB, DEFAULTS, sharing) == 15000 * 4 * 3001 // 4001


def faults(local: float, remote: float, private: float, shared: float) -> PassFaults:
    return PassFaults(local=local, remote=remote, failed=0.0, shared=shared, private=private)


def test_remote_shared_faults_speed_the_scanner_up() -> None:
    # local 2/10, private 2/10: below 7/10 both, faster by (7 - 2) tenths.
    assert adapt_period(1000, faults(2, 8, 2, 8), 250, 15000) == 500


def test_local_faults_slow_it_down() -> None:
    # private 2/10, local 9/10: slower by (9 - 7) tenths.
    assert adapt_period(1000, faults(9, 1, 2, 8), 250, 15000) == 1200


def test_mostly_private_faults_slow_it_down_whatever_their_locality() -> None:
    # The private test comes first in update_task_scan_period: 8/10 private, +1 tenth.
    assert adapt_period(1000, faults(1, 9, 8, 2), 250, 15000) == 1100


def test_no_local_or_shared_fault_or_a_failed_migration_doubles_the_period() -> None:
    assert adapt_period(1000, faults(0, 10, 10, 0), 250, 15000) == 2000
    failed = PassFaults(local=5, remote=5, failed=1, shared=5, private=5)
    assert adapt_period(1000, failed, 250, 15000) == 2000
    assert adapt_period(10000, failed, 250, 15000) == 15000  # within the bounds


def test_the_period_stays_within_its_bounds() -> None:
    assert adapt_period(300, faults(0, 10, 0, 10), 250, 15000) == 250


def group(**kw: object) -> GroupFaults:
    g = GroupFaults(tasks=4, passes=10, preferred=0)
    for k, v in kw.items():
        setattr(g, k, v)
    return g


def fault(node: int, last: int | None, cpu_node: int, private: float = 0.0) -> Fault:
    return Fault(node=node, last=last, cpu_node=cpu_node, nbytes=100.0, private=private)


def test_a_local_fault_never_moves_its_page() -> None:
    assert migrated(group(), fault(1, 1, 1, private=100.0)) == 0.0


def test_the_two_stage_filter_needs_the_previous_fault_from_the_same_node() -> None:
    g = group(cpu={0: 1.0, 1: 10.0}, mem={0: 10.0, 1: 1.0})  # node 1 far busier
    assert migrated(g, fault(0, 0, 1, private=0.0)) == 0.0
    assert migrated(g, fault(0, 1, 1, private=0.0)) == 100.0


def test_private_faults_move_and_shared_ones_follow_cpu_use_with_hysteresis() -> None:
    # CPU use 2 : 1 between nodes 1 and 0, memory 1 : 1: faults_cpu(1) x mem(0) x 3 = 6 >
    # faults_cpu(0) x mem(1) x 4 = 4, so shared faults move pages toward node 1 ...
    g = group(cpu={0: 1.0, 1: 2.0}, mem={0: 1.0, 1: 1.0})
    assert migrated(g, fault(0, 1, 1, private=25.0)) == 100.0
    # ... but at CPU use 1.2 : 1, 3.6 < 4: only the private part moves.
    g = group(cpu={0: 1.0, 1: 1.2}, mem={0: 1.0, 1: 1.0})
    assert migrated(g, fault(0, 1, 1, private=25.0)) == 25.0


def test_first_faults_move_at_once_early_in_a_task_s_life_only() -> None:
    balanced = {"cpu": {0: 1.0, 1: 1.0}, "mem": {0: 1.0, 1: 1.0}}
    assert migrated(group(passes=4, **balanced), fault(0, None, 1)) == 100.0
    assert migrated(group(passes=5, **balanced), fault(0, None, 1)) == 0.0


def test_a_task_without_a_group_moves_every_page_past_the_filter() -> None:
    alone = GroupFaults(tasks=1, passes=10, preferred=0)
    assert migrated(alone, fault(0, 1, 1, private=100.0)) == 100.0


def test_shared_pages_split_over_nodes_move_with_probability_share_squared() -> None:
    # A page scanned twice, faulted from node 1 with probability q each time, passes the
    # filter the second time with probability q^2 (expected values, shared faults that
    # the group test lets through).
    q = 0.25
    pages = PageState(unscanned={(0, None): 1000.0})
    threads = {0: 3, 1: 1}
    for f in list(pages.scan(1.0, {0: 1 - q, 1: q}, threads, 1.0, None)):
        pages.apply(f, 0.0)  # nothing moves yet: every page now remembers a fault
    pages.end_pass()
    g = group(cpu={0: 1.0, 1: 10.0}, mem={0: 10.0, 1: 1.0})
    second = list(pages.scan(1.0, {0: 1 - q, 1: q}, threads, 1.0, None))
    assert sum(migrated(g, f) for f in second) == 1000.0 * q * q


def test_topology_types() -> None:
    assert NumaTopology([[10, 21], [21, 10]]).kind is NumaTopologyType.DIRECT
    assert NumaTopology(RING).kind is NumaTopologyType.GLUELESS_MESH  # 1 lies between 0, 3
    assert NumaTopology(SNC).kind is NumaTopologyType.BACKPLANE  # nothing between 0, 2


def test_on_a_ring_a_node_also_scores_half_its_neighbours_faults() -> None:
    # (22 - 16) / (22 - 10) = 1/2 for the neighbours at 16; the opposite node counts 0.
    ring = NumaTopology(RING)
    faults = {0: 100.0, 1: 40.0, 2: 40.0, 3: 90.0}
    assert ring.score(faults, 0, 22) == 100 + 20 + 20
    assert ring.score(faults, 3, 22) == 90 + 20 + 20
    assert ring.preferred(faults, 3, random.Random(0)) == 0
    # Node 1 has fewer faults than node 0 but better neighbours (0 and 3 against 0 and 2).
    faults = {0: 100.0, 1: 95.0, 2: 0.0, 3: 30.0}
    assert ring.preferred(faults, None, random.Random(0)) == 1


def test_on_snc_the_preferred_node_is_found_socket_first() -> None:
    # Socket {0, 1} has 60 faults, socket {2, 3} 70: the preferred node is in {2, 3},
    # although node 0 alone has the most.
    snc = NumaTopology(SNC)
    assert snc.preferred({0: 50.0, 1: 10.0, 2: 35.0, 3: 35.0}, None, random.Random(0)) in (2, 3)
    assert snc.preferred({0: 50.0, 1: 10.0, 2: 40.0, 3: 30.0}, None, random.Random(0)) == 2


def test_a_scan_touches_only_what_the_guest_uses() -> None:
    pages = PageState(unscanned={(0, None): 1000.0})
    found = list(pages.scan(0.5, {0: 0.6}, {0: 2}, 1.0, None))
    assert sum(f.nbytes for f in found) == 1000.0 * 0.5 * 0.6
    pages.scan_untouched(0.5, 0.6)
    for f in found:
        pages.apply(f, 0.0)
    assert pages.unscanned_bytes == 500.0
    assert sum(pages.scanned.values()) == 500.0
    assert pages.scanned[(0, 0)] == 300.0  # the faulted ones remember node 0
    assert pages.scanned[(0, None)] == 200.0


def test_reconcile_follows_the_simulator_s_bytes() -> None:
    pages = PageState(unscanned={(0, 1): 600.0}, scanned={(0, 0): 400.0})
    pages.reconcile({0: 500, 1: 256 * MiB})
    assert pages.unscanned == {(0, 1): 300.0, (1, None): float(256 * MiB)}
    assert pages.scanned == {(0, 0): 200.0}
