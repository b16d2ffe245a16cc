"""Worked examples of the automatic NUMA balancing model on real simulated hosts: pages
follow the vCPUs at the scan rate and within the bandwidth, the two-stage filter and the
hysteresis keep a split VM's memory from ping-ponging, tasks move only where there is
room, a VM larger than a node spreads, bindings hold, and nothing is scanned that the
kernel would not scan."""

from __future__ import annotations

import pytest

from numaplane.bench.autonuma import AutoNuma
from numaplane.common.units import GiB, MiB
from numaplane.hostagent.drivers.sim import MemoryBinding
from tests.support.autonuma_world import TICK_S, cluster, exact, run_ticks, vcpu_nodes


def test_pages_follow_the_vcpus_at_the_scan_rate() -> None:
    # 2 GiB on node 0, its 4 vCPUs held on node 1 by their affinity. One pass over 2 GiB
    # is 8 windows of 256 MiB; at a pass time of 8 s a window takes 1 s: 256 MiB/s, so
    # 1.25 GiB per 5 s tick, every faulting page new (cpupid unset) and so migrated.
    c = cluster(bandwidth_gib_s=4)
    h = c.hosts["h"]
    h.start_vm("a", 4, 2 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(1))
    step = AutoNuma(exact(scan_delay_ms=0, scan_period_min_ms=8000, scan_period_max_ms=8000))
    run_ticks(step, c, 1)
    assert h.vm("a").memory_by_node == {0: 768 * MiB, 1: 1280 * MiB}
    run_ticks(step, c, 1)
    assert h.vm("a").memory_by_node == {1: 2 * GiB}
    assert h.vm("a").migrated_bytes_total == 2 * GiB  # each page moved once
    assert vcpu_nodes(h, "a") == [1, 1, 1, 1]


def test_the_migration_bandwidth_bounds_the_rate() -> None:
    # The same VM at 0.1 GiB/s: 0.5 GiB a tick, four ticks for 2 GiB (the scan, which
    # could do 1.25 GiB a tick, stops where the budget runs out and resumes there).
    c = cluster(bandwidth_gib_s=0.1)
    h = c.hosts["h"]
    h.start_vm("a", 4, 2 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(1))
    step = AutoNuma(exact(scan_delay_ms=0, scan_period_min_ms=8000, scan_period_max_ms=8000))
    on_node_1 = []
    for _ in range(4):
        run_ticks(step, c, 1)
        on_node_1.append(h.vm("a").memory_by_node.get(1, 0) / GiB)
    assert on_node_1 == [0.5, 1.0, 1.5, 2.0]


def test_the_scan_delay_and_the_default_periods() -> None:
    # Defaults: the first scan 1 s after the start; a 1 GiB VM is 4 windows of 256 MiB,
    # 250 ms each (1 s per pass, numa_balancing_scan_period_min_ms). The first pass moves
    # the whole GiB (the bandwidth allows 5 GiB a tick). Its faults were all private
    # (first faults) and remote: "no local or shared fault", so the period doubles to
    # 500 ms; the second pass finds everything local and slows by 3 tenths of it (private
    # share 10/10 >= 7: +3 x 50 ms) to 650 ms; at 4 s of scanning the third is under way.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("a", 2, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(1))
    step = AutoNuma(exact())
    run_ticks(step, c, 1)
    assert h.vm("a").memory_by_node == {1: 1 * GiB}
    state = step.state("h", "a")
    assert state is not None
    assert (state.group.passes, state.period_ms, state.group.preferred) == (2, 650, 1)


def test_a_split_vm_does_not_ping_pong_its_memory() -> None:
    # Two CPUs per node: the 4-vCPU VM runs 2 + 2 and cannot gather on one node. Its
    # memory starts on node 0; it spreads like the CPU use and stays spread. After the
    # first passes a page moves only on a fault from the other node (1/2), after a
    # previous fault from that node too (the two-stage filter, 1/2) by the same thread
    # (private, 1/2): at most 1/8 of the pages a pass. Shared faults at balance move
    # nothing (the 3/4 hysteresis). Without the filter half the pages would move each
    # pass, without the hysteresis about a sixth.
    c = cluster(cpus=2)
    h = c.hosts["h"]
    h.start_vm("a", 4, 2 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("a", (*h.spec.cpus_of_node(0), *h.spec.cpus_of_node(1)))
    assert sorted(vcpu_nodes(h, "a")) == [0, 0, 1, 1]
    step = AutoNuma(exact())
    run_ticks(step, c, 12)  # the first minute
    state = step.state("h", "a")
    assert state is not None
    moved, passes = h.vm("a").migrated_bytes_total, state.group.passes
    run_ticks(step, c, 108)  # nine more
    per_pass = (h.vm("a").migrated_bytes_total - moved) / (state.group.passes - passes)
    assert per_pass < 2 * GiB / 8
    for node in (0, 1):
        assert 3 / 7 <= h.vm("a").memory_by_node[node] / (2 * GiB) <= 4 / 7
    assert sorted(vcpu_nodes(h, "a")) == [0, 0, 1, 1]
    # Shared faults between the group's two active nodes count as local: the scanner
    # slows down, from 125 ms a window to more than ten times that.
    assert state.period_ms is not None and state.period_ms > 10 * 125


def test_a_task_moves_to_its_preferred_node_only_when_a_cpu_there_is_free() -> None:
    # One vCPU whose memory is bound to node 0 runs on node 1, because node 0's four CPUs
    # are taken by a VM pinned there. Its preferred node is 0 (all its faults are there),
    # but a full node takes no task that would unbalance the load; once the pinned VM
    # goes, the vCPU moves there within a tick.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("filler", 4, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    h.start_vm("a", 1, 1 * GiB, binding=MemoryBinding.strict({0}))
    assert vcpu_nodes(h, "a") == [1]
    step = AutoNuma(exact())
    run_ticks(step, c, 6)
    state = step.state("h", "a")
    assert state is not None and state.group.preferred == 0
    assert vcpu_nodes(h, "a") == [1]
    h.delete_vm("filler")
    run_ticks(step, c, 1)
    assert vcpu_nodes(h, "a") == [0]
    assert h.vm("a").memory_by_node == {0: 1 * GiB}


def test_a_move_the_load_balancer_would_undo_is_not_made() -> None:
    # Two vCPUs of one VM on an idle host, memory bound to node 0, vCPUs on node 1 (the
    # scheduler put them there while a pinned VM filled node 0). When node 0 empties, one
    # vCPU moves; the second would leave node 0 two tasks ahead, more than the 12.5 % of
    # a node (imb_numa_nr, at least 1) the load balancer tolerates, so it stays.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("filler", 4, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    h.start_vm("a", 2, 1 * GiB, binding=MemoryBinding.strict({0}))
    assert vcpu_nodes(h, "a") == [1, 1]
    step = AutoNuma(exact())
    run_ticks(step, c, 6)
    h.delete_vm("filler")
    run_ticks(step, c, 12)
    assert sorted(vcpu_nodes(h, "a")) == [0, 1]


def test_a_vm_larger_than_a_node_spreads_over_the_nodes_with_its_faults() -> None:
    # Three nodes of 4 CPUs; a 6-vCPU VM with its memory bound to nodes 0 and 1 (half on
    # each) and all six vCPUs crowded onto node 2. Its preferred node cannot take them all
    # without unbalancing the load; when it is full the others go to the next node with
    # faults, never back to node 2, which has none.
    c = cluster(nodes=3, memory_gib=8)
    h = c.hosts["h"]
    h.start_vm("a", 6, 4 * GiB, cpus=h.spec.cpus_of_node(0)[:2] + h.spec.cpus_of_node(1)[:2],
               binding=MemoryBinding.strict({0, 1}))  # fmt: skip
    assert h.vm("a").memory_by_node == {0: 2 * GiB, 1: 2 * GiB}
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(2))
    h.set_vcpu_affinity("a", (*h.spec.cpus_of_node(0), *h.spec.cpus_of_node(1),
                              *h.spec.cpus_of_node(2)))  # fmt: skip
    for index in range(6):
        h.move_vcpu("a", index, h.spec.cpus_of_node(2)[index % 4])
    step = AutoNuma(exact())
    run_ticks(step, c, 24)
    nodes = vcpu_nodes(h, "a")
    assert nodes.count(0) >= 2 and nodes.count(1) >= 1  # both nodes with faults took some
    assert nodes.count(2) <= 2  # and the node without faults kept at most its fair share
    assert max(nodes.count(n) for n in (0, 1, 2)) <= 4  # no node took more than its CPUs


def test_an_operator_binding_is_never_left() -> None:
    # Memory bound strictly to node 0 and vCPUs pinned to node 1 (cpuset.mems and
    # cpuset.cpus as an operator set them). Every fault wants the page on node 1 and
    # every task wants node 0; neither may go. The failed migrations slow the scanner.
    # The same VM unbound, for contrast, has its memory moved.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("bound", 2, 1 * GiB, cpus=h.spec.cpus_of_node(1),
               binding=MemoryBinding.strict({0}))  # fmt: skip
    h.start_vm("free", 2, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("free", h.spec.cpus_of_node(1))
    step = AutoNuma(exact())
    run_ticks(step, c, 24)
    bound = h.vm("bound")
    assert bound.memory_by_node == {0: 1 * GiB}
    assert bound.migrated_bytes_total == 0
    assert vcpu_nodes(h, "bound") == [1, 1]
    assert bound.allowed_cpus == h.spec.cpus_of_node(1)
    assert bound.binding == MemoryBinding.strict({0})
    state = step.state("h", "bound")
    assert state is not None and state.period_ms is not None
    assert state.period_ms > 20 * 250  # each failed pass doubled it
    assert h.vm("free").memory_by_node == {1: 1 * GiB}


def test_pages_move_within_a_strict_binding() -> None:
    # Bound to nodes 0 and 1 of three, vCPUs on node 1: pages move from 0 to 1, inside the
    # binding, and never to node 2.
    c = cluster(nodes=3)
    h = c.hosts["h"]
    h.start_vm("a", 2, 1 * GiB, cpus=h.spec.cpus_of_node(0), binding=MemoryBinding.strict({0, 1}))
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(1))
    step = AutoNuma(exact())
    run_ticks(step, c, 2)
    assert h.vm("a").memory_by_node == {1: 1 * GiB}


def test_memory_under_a_preferred_policy_is_not_scanned() -> None:
    # MPOL_PREFERRED without MPOL_F_MOF (libvirt's numatune mode='preferred', the sim's
    # stand-in for Xen's node-affinity): task_numa_work skips the VMAs, so no fault, no
    # migration, no kernel time, and no task placement either.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("a", 2, 1 * GiB, cpus=h.spec.cpus_of_node(1), binding=MemoryBinding.preferred({0}))
    assert h.vm("a").memory_by_node == {0: 1 * GiB}
    step = AutoNuma(exact())
    run_ticks(step, c, 12)
    assert h.vm("a").memory_by_node == {0: 1 * GiB}
    assert step.state("h", "a") is None
    assert c.kernel_time_share == {}


def test_hinting_faults_cost_the_guest_while_it_is_scanned() -> None:
    # A 1 GiB one-vCPU VM whose memory is all local: nothing to migrate, but every scanned
    # page the guest touches takes a fault. 4 KiB faults at 3 us. The first scan is 1 s in;
    # the window period starts at 250 ms and, its faults being private and local, grows
    # by 3 tenths after each pass: 250, 325, 424 ms, so passes of 1, 1.3 and 1.696 s,
    # then 4 ms of a fourth at 553 ms a window. The tick's faults cost that many 3 us.
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("a", 1, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    step = AutoNuma(exact(fault_granule_bytes=4096, fault_cost_us=3.0))
    step(c, TICK_S)
    scanned = 3 * GiB + (4 - 1 - 1.3 - 1.696) * 256 * MiB / 0.553
    assert c.kernel_time_share["a"] == pytest.approx(scanned / 4096 * 3e-6 / TICK_S)
    shares = [c.kernel_time_share["a"]]
    for _ in range(24):
        c.advance(TICK_S)
        step(c, TICK_S)
        shares.append(c.kernel_time_share.get("a", 0.0))
    assert shares[-1] < shares[0] / 10  # the scanner slowed down, so did the cost
    assert h.vm("a").migrated_bytes_total == 0


def test_migrated_pages_are_copied_on_the_guests_time() -> None:
    # The kernel migrates a misplaced page inside the fault: 1 GiB copied at 5 GB/s is
    # 0.215 s of the two vCPUs' 10 s in the tick, on top of the faults (2 MiB each here).
    c = cluster()
    h = c.hosts["h"]
    h.start_vm("a", 2, 1 * GiB, cpus=h.spec.cpus_of_node(0))
    h.set_vcpu_affinity("a", h.spec.cpus_of_node(1))
    step = AutoNuma(exact(fault_cost_us=0.0))
    step(c, TICK_S)
    assert c.kernel_time_share["a"] == GiB / 5e9 / (2 * TICK_S)
