"""The simulated host: first-touch, spill order, bindings, scheduler, migration, balloon."""

from __future__ import annotations

import contextlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from numaplane.common.units import GiB, MiB
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimError,
    SimHost,
    SimHostSpec,
    SimSpecError,
    host_spec_from_dict,
)

SNC_DISTANCES = [[10, 11, 21, 21], [11, 10, 21, 21], [21, 21, 10, 11], [21, 21, 11, 10]]


def two_node(cpus: int = 4, memory_gib: float = 4) -> SimHostSpec:
    return host_spec_from_dict(
        {
            "name": "h",
            "nodes": [{"cpus": cpus, "memory_gib": memory_gib}] * 2,
            "distances": [[10, 21], [21, 10]],
        }
    )


def snc4(memory_gib: float = 2, **extra: Any) -> SimHostSpec:
    return host_spec_from_dict(
        {
            "name": "snc",
            "nodes": [{"cpus": 2, "memory_gib": memory_gib}] * 4,
            "distances": SNC_DISTANCES,
            **extra,
        }
    )


def test_cpus_are_numbered_consecutively_across_nodes() -> None:
    spec = host_spec_from_dict(
        {
            "name": "h",
            "nodes": [{"cpus": 2, "memory_gib": 1, "offline_cpus": 1}, {"cpus": 3, "memory": "1G"}],
            "distances": [[10, 21], [21, 10]],
        }
    )
    topo = spec.topology()
    assert topo.node(0).cpus == (0, 1)
    assert topo.node(0).offline_cpus == (2,)
    assert topo.node(1).cpus == (3, 4, 5)
    assert topo.memory_free_bytes == 2 * GiB


def test_memory_lands_on_the_node_of_the_touching_vcpus() -> None:
    host = SimHost(two_node())
    vm = host.start_vm("a", 2, 1 * GiB, cpus=host.spec.cpus_of_node(1))
    assert vm.memory_by_node == {1: 1 * GiB}
    assert host.free_by_node() == {0: 4 * GiB, 1: 3 * GiB}


def test_spill_goes_to_the_distance_11_sibling_first() -> None:
    host = SimHost(snc4(memory_gib=2))
    # Nodes 2 and 3 have more free memory than node 1, but node 1 is nearer.
    host.start_vm("filler", 1, 1 * GiB, cpus=host.spec.cpus_of_node(1))
    vm = host.start_vm("big", 2, 3 * GiB, cpus=host.spec.cpus_of_node(0))
    assert vm.memory_by_node == {0: 2 * GiB, 1: 1 * GiB}


def test_spill_between_equally_near_nodes_prefers_the_one_with_more_free() -> None:
    host = SimHost(snc4(memory_gib=2))
    host.start_vm("filler", 1, 1 * GiB, cpus=host.spec.cpus_of_node(2))
    vm = host.start_vm("big", 2, 5 * GiB, cpus=host.spec.cpus_of_node(0))
    # node 0 then its sibling 1 are full; of 2 (1 GiB free) and 3 (2 GiB free), 3 first.
    assert vm.memory_by_node == {0: 2 * GiB, 1: 2 * GiB, 3: 1 * GiB}


def test_strict_binding_refuses_a_vm_its_nodes_cannot_hold() -> None:
    host = SimHost(snc4(memory_gib=2))
    with pytest.raises(SimError, match="cannot hold"):
        host.start_vm("a", 1, 3 * GiB, binding=MemoryBinding.strict({0}))
    assert host.vms() == ()
    assert host.free_by_node() == dict.fromkeys(range(4), 2 * GiB)


def test_strict_binding_never_leaves_its_nodes_and_blocks_instead() -> None:
    host = SimHost(snc4(memory_gib=2))
    host.start_vm(
        "a", 1, 2 * GiB, cpus=host.spec.cpus_of_node(2), binding=MemoryBinding.strict({2})
    )
    # Memory touched from node 0 CPUs still lands on the bound node.
    b = host.start_vm("b", 1, 1 * GiB, cpus=host.spec.cpus_of_node(0))
    assert b.memory_by_node == {0: 1 * GiB}
    # Growing a strict VM whose node is full: no spill, the working set is host-swapped.
    host.set_balloon_target("a", 1 * GiB)
    host.start_vm("e", 1, 1 * GiB, cpus=host.spec.cpus_of_node(2))
    host.set_balloon_target("a", 2 * GiB)
    a = host.vm("a")
    assert a.memory_by_node == {2: 1 * GiB}
    assert a.host_swap_bytes == 1 * GiB
    assert host.free_by_node()[3] == 2 * GiB


def test_preferred_binding_spills_to_the_nearest_other_node() -> None:
    host = SimHost(snc4(memory_gib=2))
    vm = host.start_vm("a", 1, 3 * GiB, cpus=(0,), binding=MemoryBinding.preferred({2}))
    assert vm.memory_by_node == {2: 2 * GiB, 3: 1 * GiB}


def test_a_vm_blocked_by_a_full_host_reports_host_swap_until_memory_frees() -> None:
    host = SimHost(two_node(memory_gib=1))
    host.start_vm("a", 1, 2 * GiB)
    b = host.start_vm("b", 1, 1 * GiB, working_set_bytes=512 * MiB)
    assert b.resident_bytes == 0
    assert b.host_swap_bytes == 512 * MiB
    host.delete_vm("a")
    host.advance(1.0)
    b = host.vm("b")
    assert b.resident_bytes == 1 * GiB
    assert b.host_swap_bytes == 0


def test_the_scheduler_puts_vcpus_on_the_least_loaded_node_first() -> None:
    host = SimHost(two_node(cpus=4))
    host.start_vm("pinned", 3, 1 * GiB, cpus=host.spec.cpus_of_node(0))
    vm = host.start_vm("free", 4, 1 * GiB)
    nodes = [host.spec.topology().node_of_cpu(c) for c in vm.vcpu_cpus]
    # node 1 is empty: the first three vCPUs go there until it is as loaded as node 0.
    assert nodes[:3] == [1, 1, 1]
    assert nodes.count(1) >= 3


def test_an_unbound_vm_on_an_idle_host_spreads_its_vcpus_and_memory() -> None:
    host = SimHost(two_node(cpus=4), seed=3)
    vm = host.start_vm("a", 4, 2 * GiB)
    assert vm.memory_by_node == {0: 1 * GiB, 1: 1 * GiB}


def test_same_seed_gives_the_same_observations() -> None:
    def run(seed: int) -> list[Any]:
        host = SimHost(snc4(memory_gib=4, touch_rate_gib_s=1), seed=seed)
        seen = []
        for i in range(6):
            host.start_vm(f"vm{i}", 3, (i % 3 + 1) * GiB)
            host.advance(0.7)
            seen.append(host.observe())
        host.migrate_memory("vm1", [3], 256 * MiB)
        host.set_balloon_target("vm2", 1 * GiB)
        host.advance(3.0)
        seen.append(host.observe())
        return seen

    assert run(7) == run(7)


def test_touch_rate_spreads_touching_over_time() -> None:
    host = SimHost(
        host_spec_from_dict(
            {"name": "h", "nodes": [{"cpus": 2, "memory_gib": 4}], "touch_rate_gib_s": 0.5}
        )
    )
    assert host.start_vm("a", 1, 2 * GiB).resident_bytes == 0
    host.advance(1.0)
    assert host.vm("a").resident_bytes == 512 * MiB
    host.advance(10.0)
    assert host.vm("a").resident_bytes == 2 * GiB


def test_migration_moves_memory_at_its_bandwidth() -> None:
    host = SimHost(two_node())
    host.start_vm("a", 2, 2 * GiB, cpus=host.spec.cpus_of_node(0))
    host.migrate_memory("a", [1], 512 * MiB)
    assert host.vm("a").migrating_to == (1,)
    host.advance(1.0)
    assert host.vm("a").memory_by_node == {0: 1536 * MiB, 1: 512 * MiB}
    host.advance(2.0)
    assert host.vm("a").memory_by_node == {0: 512 * MiB, 1: 1536 * MiB}
    host.advance(5.0)
    vm = host.vm("a")
    assert vm.memory_by_node == {1: 2 * GiB}
    assert vm.migrating_to is None
    assert vm.migrated_bytes_total == 2 * GiB == host.migrated_bytes_total
    assert vm.binding == MemoryBinding.strict({1})


def test_migration_stalls_when_the_target_is_full() -> None:
    host = SimHost(two_node(memory_gib=2))
    host.start_vm("a", 1, 2 * GiB, cpus=host.spec.cpus_of_node(0))
    host.start_vm("b", 1, 1536 * MiB, cpus=host.spec.cpus_of_node(1))
    host.migrate_memory("a", [1], 1 * GiB)
    host.advance(1.0)
    host.advance(1.0)
    vm = host.vm("a")
    assert vm.memory_by_node == {0: 1536 * MiB, 1: 512 * MiB}
    assert vm.migration_stalled


def test_inflating_the_balloon_below_the_working_set_swaps() -> None:
    host = SimHost(two_node())
    host.start_vm("a", 1, 4 * GiB, cpus=(0,), working_set_bytes=3 * GiB)
    host.set_balloon_target("a", 2 * GiB)
    vm = host.vm("a")
    assert vm.guest_memory_bytes == 2 * GiB
    assert vm.resident_bytes == 2 * GiB
    assert vm.guest_swap_bytes == 1 * GiB
    assert vm.swapped_out_total_bytes == 1 * GiB
    assert (vm.guest_used_bytes, vm.guest_cache_bytes, vm.guest_free_bytes) == (2 * GiB, 0, 0)
    # The working set shrinks back under the balloon: nothing is swapped any more.
    host.set_working_set("a", 1 * GiB)
    vm = host.vm("a")
    assert vm.swap_bytes == 0
    assert (vm.guest_used_bytes, vm.guest_cache_bytes, vm.guest_free_bytes) == (GiB, GiB, 0)
    # Deflating gives the guest its memory back; it touches it again.
    host.set_balloon_target("a", 4 * GiB)
    assert host.vm("a").resident_bytes == 4 * GiB


def test_balloon_moves_at_the_host_balloon_rate() -> None:
    host = SimHost(snc4(memory_gib=4, balloon_rate_gib_s=0.5))
    host.start_vm("a", 1, 3 * GiB, cpus=(0,), working_set_bytes=1 * GiB)
    host.set_balloon_target("a", 2 * GiB)
    host.advance(1.0)
    assert host.vm("a").guest_memory_bytes == 2560 * MiB
    host.advance(1.0)
    assert host.vm("a").guest_memory_bytes == 2 * GiB


def test_affinity_change_replaces_vcpus_within_the_new_set() -> None:
    host = SimHost(two_node())
    host.start_vm("a", 2, 1 * GiB, cpus=host.spec.cpus_of_node(0))
    host.set_vcpu_affinity("a", host.spec.cpus_of_node(1))
    vm = host.vm("a")
    assert set(vm.vcpu_cpus) <= set(host.spec.cpus_of_node(1))
    assert vm.memory_by_node == {0: 1 * GiB}  # memory stays where it was
    assert host.node_vcpu_load(0) == 0 and host.node_vcpu_load(1) == 2


def test_one_vcpu_moves_within_its_affinity_and_the_loads_follow() -> None:
    host = SimHost(two_node(cpus=4))
    host.start_vm("a", 2, 1 * GiB, cpus=(0, 1, 4, 5))
    before = host.vm("a")
    assert sorted(before.vcpu_cpus) == [0, 4]  # one on each node
    assert before.memory_by_node == {0: 512 * MiB, 1: 512 * MiB}
    index = before.vcpu_cpus.index(4)
    host.move_vcpu("a", index, 1)
    vm = host.vm("a")
    assert sorted(vm.vcpu_cpus) == [0, 1]
    assert vm.allowed_cpus == (0, 1, 4, 5)  # the affinity mask is not changed
    assert (host.node_vcpu_load(0), host.node_vcpu_load(1)) == (2, 0)
    assert (host.cpu_vcpu_load(1), host.cpu_vcpu_load(4)) == (1, 0)
    assert host.version > 0
    # Later pages land where the vCPUs run now.
    host.set_balloon_target("a", 512 * MiB)
    host.set_balloon_target("a", 1 * GiB)
    assert host.vm("a").memory_by_node == {0: 768 * MiB, 1: 256 * MiB}


def test_a_vcpu_cannot_move_outside_its_affinity() -> None:
    host = SimHost(two_node(cpus=4))
    host.start_vm("a", 2, 1 * GiB, cpus=host.spec.cpus_of_node(0))
    with pytest.raises(SimError, match="outside its affinity"):
        host.move_vcpu("a", 0, 4)
    with pytest.raises(SimError, match="no vCPU 2"):
        host.move_vcpu("a", 2, 1)
    assert host.node_vcpu_load(1) == 0


def test_pages_move_between_two_nodes_as_far_as_there_is_memory_and_room() -> None:
    host = SimHost(two_node(memory_gib=2))
    host.start_vm("a", 1, 1 * GiB, cpus=host.spec.cpus_of_node(0))
    host.start_vm("b", 1, 1536 * MiB, cpus=host.spec.cpus_of_node(1))
    assert host.move_pages("a", 0, 1, 256 * MiB) == 256 * MiB
    assert host.vm("a").memory_by_node == {0: 768 * MiB, 1: 256 * MiB}
    # Node 1 has 256 MiB left: that much moves of the 512 MiB asked.
    assert host.move_pages("a", 0, 1, 512 * MiB) == 256 * MiB
    assert host.move_pages("a", 0, 1, 512 * MiB) == 0
    # Back to node 0: only what the VM has on node 1.
    assert host.move_pages("a", 1, 0, 2 * GiB) == 512 * MiB
    vm = host.vm("a")
    assert vm.memory_by_node == {0: 1 * GiB}
    assert vm.migrated_bytes_total == 1 * GiB == host.migrated_bytes_total
    assert vm.binding == MemoryBinding.none()  # no binding is set
    assert host.free_by_node() == {0: 1 * GiB, 1: 512 * MiB}


def test_pages_stay_inside_a_strict_binding() -> None:
    host = SimHost(snc4(memory_gib=2))
    host.start_vm("a", 1, 1 * GiB, cpus=(0,), binding=MemoryBinding.strict({0, 1}))
    assert host.move_pages("a", 0, 1, 256 * MiB) == 256 * MiB
    with pytest.raises(SimError, match="outside its strict binding"):
        host.move_pages("a", 0, 2, 256 * MiB)
    assert host.vm("a").memory_by_node == {0: 768 * MiB, 1: 256 * MiB}


def test_stop_returns_memory_and_keeps_the_record() -> None:
    host = SimHost(two_node())
    host.start_vm("a", 2, 1 * GiB)
    host.stop_vm("a")
    assert host.vm("a").state == "shutoff"
    assert host.free_by_node() == {0: 4 * GiB, 1: 4 * GiB}
    host.delete_vm("a")
    assert not host.has_vm("a")


def test_operations_name_what_is_wrong() -> None:
    host = SimHost(two_node())
    host.start_vm("a", 1, 1 * GiB)
    with pytest.raises(SimError, match="already exists"):
        host.start_vm("a", 1, 1 * GiB)
    with pytest.raises(SimError, match="not online"):
        host.start_vm("b", 1, 1 * GiB, cpus=(99,))
    with pytest.raises(SimError, match="not nodes"):
        host.migrate_memory("a", [5], 1.0)
    with pytest.raises(SimError, match="no VM"):
        host.set_working_set("nope", 1)


def test_spec_errors_carry_the_path_of_the_field() -> None:
    with pytest.raises(SimSpecError) as err:
        host_spec_from_dict({"name": "h", "nodes": [{"cpus": 2, "memory_gib": 1}, {"cpus": 2}]})
    assert err.value.path == ("nodes", 1)
    with pytest.raises(SimSpecError) as err:
        host_spec_from_dict(
            {"name": "h", "nodes": [{"cpus": 1, "memory_gib": 1}] * 2, "distances": [[10, 21]]}
        )
    assert err.value.path == ("distances",)
    with pytest.raises(SimSpecError) as err:
        host_spec_from_dict(
            {
                "name": "h",
                "nodes": [{"cpus": 1, "memory_gib": 1}] * 2,
                "distances": [[10, 21], [21, 12]],
            }
        )
    assert err.value.path == ("distances", 1, 1)
    with pytest.raises(SimSpecError, match="unknown key 'ram'"):
        host_spec_from_dict({"name": "h", "nodes": [{"cpus": 1, "ram": 1}]})
    with pytest.raises(SimSpecError, match="must be > 0"):
        host_spec_from_dict({"name": "h", "nodes": [{"cpus": 1, "memory_gib": 0}]})


def test_backend_follows_an_injected_clock() -> None:
    now = [100.0]
    spec = host_spec_from_dict(
        {"name": "h", "nodes": [{"cpus": 2, "memory_gib": 4}], "touch_rate_gib_s": 1}
    )
    backend = SimBackend(SimHost(spec), clock=lambda: now[0])
    backend.with_host(lambda h: h.start_vm("a", 1, 2 * GiB))
    assert backend.observe().vms[0].memory_by_node == {}
    now[0] += 1.0
    obs = backend.observe()
    assert obs.observed_at == 101.0
    assert obs.vms[0].memory_by_node == {0: 1 * GiB}
    assert backend.topology().node(0).memory_free_bytes == 3 * GiB
    assert backend.capabilities().memory_migration


# -- free memory consistency under random operation sequences ------------------------

op = st.one_of(
    st.tuples(
        st.just("start"),
        st.integers(0, 5),
        st.integers(1, 4),
        st.integers(1, 12),
        st.sampled_from(["none", "strict", "preferred"]),
        st.integers(0, 3),
    ),
    st.tuples(st.just("delete"), st.integers(0, 5)),
    st.tuples(st.just("stop"), st.integers(0, 5)),
    st.tuples(st.just("migrate"), st.integers(0, 5), st.integers(0, 3), st.integers(1, 8)),
    st.tuples(st.just("balloon"), st.integers(0, 5), st.integers(1, 12)),
    st.tuples(st.just("ws"), st.integers(0, 5), st.integers(0, 12)),
    st.tuples(st.just("affinity"), st.integers(0, 5), st.integers(0, 3)),
    st.tuples(st.just("advance"), st.floats(0.0, 3.0)),
)


def apply(host: SimHost, step: tuple[Any, ...]) -> None:
    quarter = 256 * MiB
    kind, *args = step
    name = f"vm{args[0]}" if kind != "advance" else ""
    if kind == "start":
        _, vcpus, quarters, mode, node = args
        binding = MemoryBinding() if mode == "none" else MemoryBinding(mode, frozenset({node}))
        host.start_vm(name, vcpus, quarters * quarter, binding=binding)
    elif kind == "delete":
        host.delete_vm(name)
    elif kind == "stop":
        host.stop_vm(name)
    elif kind == "migrate":
        host.migrate_memory(name, [args[1]], args[2] * quarter)
    elif kind == "balloon":
        host.set_balloon_target(name, args[1] * quarter)
    elif kind == "ws":
        host.set_working_set(name, args[1] * quarter)
    elif kind == "affinity":
        host.set_vcpu_affinity(name, host.spec.cpus_of_node(args[1]))
    else:
        host.advance(args[0])


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=40), st.integers(0, 3))
def test_free_plus_used_is_total_on_every_node_after_any_operations(
    steps: list[tuple[Any, ...]], seed: int
) -> None:
    host = SimHost(snc4(memory_gib=1, touch_rate_gib_s=0.5, balloon_rate_gib_s=0.25), seed=seed)
    for step in steps:
        with contextlib.suppress(SimError):
            apply(host, step)
        free = host.free_by_node()
        for node, spec in enumerate(host.spec.nodes):
            used = sum(vm.memory_by_node.get(node, 0) for vm in host.vms())
            assert free[node] >= 0
            assert free[node] + used == spec.memory_bytes
        for vm in host.vms():
            assert vm.resident_bytes <= vm.guest_memory_bytes
            if vm.binding.mode == "strict" and vm.migrating_to is None:
                # (pages a migration has yet to move may still sit outside its binding)
                assert set(vm.memory_by_node) <= vm.binding.nodes
