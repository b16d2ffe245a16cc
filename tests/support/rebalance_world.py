"""A small model of hosts and VMs that carries out rebalancing actions, for the rebalancer's
tests (no mocks: it is an independent, simpler implementation of what an agent does).

Memory is exact bytes per node; a node's free memory is its total minus its VMs'. An
action is applied as the agent applies it:

- `MemoryMove`: every byte outside `to_nodes` goes to the target nearest its source with
  room (the kernel's migrate_pages), then the vCPUs are bound to and run on the target
  nodes that have CPUs;
- `AffinityChange`: the vCPUs are bound to and run on `nodes`;
- `HostMove`: the VM leaves its host and arrives on `to_host`, its memory spread over
  `to_nodes` in proportion to their free memory, its vCPUs there.

A move that does not fit (a target without room) raises `DoesNotFit`: the planner promised
room it did not have.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace

from numaplane.common.locality import locality, node_set_share, spread_evenly
from numaplane.common.topology import NumaNode, Topology
from numaplane.controller.policy.types import (
    Action,
    AffinityChange,
    ClusterView,
    HostMove,
    HostView,
    MemoryMove,
    VmView,
)


class DoesNotFit(AssertionError):
    """The planner sent memory where there was no room."""


@dataclass
class WorldVm:
    name: str
    host: str
    vcpus: int
    memory: dict[int, int]
    cpu_nodes: frozenset[int]
    running: frozenset[int]
    pinned_host: bool = False
    pinned_nodes: bool = False
    guest_bytes: int | None = None
    """The guest's size when known: on arriving at another host it touches all of it."""

    @property
    def resident(self) -> int:
        return sum(self.memory.values())

    @property
    def locality(self) -> float:
        """Per vCPU (`numaplane.common.locality`), its vCPUs spread evenly over `running`."""
        return locality(self.memory, spread_evenly(self.vcpus, self.running))

    @property
    def node_set_locality(self) -> float:
        """Share of its memory on the nodes where its vCPUs run."""
        return node_set_share(self.memory, self.running)

    def floats(self, topology: Topology) -> bool:
        """Nothing binds its vCPUs: they may run on every CPU node of its host."""
        return self.cpu_nodes >= topology.cpu_node_ids


@dataclass
class World:
    topologies: dict[str, Topology]
    vms: dict[str, WorldVm] = field(default_factory=dict)
    down: set[str] = field(default_factory=set)
    now: float = 0.0
    last_moved: dict[str, float] = field(default_factory=dict)
    waiting: list[tuple[str, int, tuple[int, ...], int]] = field(default_factory=list)
    """(VM, source node, target nodes, bytes) of moves that found no room yet: they wait,
    as a migration whose targets are full stalls, for room another move of the pass frees."""

    # -- reading ---------------------------------------------------------------------

    def used(self, host: str, node: int) -> int:
        return sum(vm.memory.get(node, 0) for vm in self.vms.values() if vm.host == host)

    def free(self, host: str, node: int) -> int:
        return self.topologies[host].node(node).memory_total_bytes - self.used(host, node)

    def load(self, host: str, node: int) -> float:
        """vCPUs running on `node`, a VM running on k nodes counting vcpus / k on each."""
        return sum(
            vm.vcpus / len(vm.running)
            for vm in self.vms.values()
            if vm.host == host and node in vm.running
        )

    def total_locality(self) -> float:
        num = sum(vm.locality * vm.resident for vm in self.vms.values())
        den = sum(vm.resident for vm in self.vms.values())
        return num / den if den else 1.0

    def view(self) -> ClusterView:
        hosts = []
        for name, topo in self.topologies.items():
            nodes = tuple(
                replace(n, memory_free_bytes=self.free(name, n.id)) for n in topo.nodes
            )
            vms = tuple(
                VmView(
                    name=vm.name,
                    host=name,
                    vcpus=vm.vcpus,
                    memory_bytes=vm.resident,
                    memory_by_node=dict(vm.memory),
                    cpu_nodes=vm.cpu_nodes,
                    running_nodes=vm.running,
                    floating=vm.floats(topo),
                    pinned_host=vm.pinned_host,
                    pinned_nodes=vm.pinned_nodes,
                    guest_bytes=vm.guest_bytes,
                )
                for vm in sorted(self.vms.values(), key=lambda v: v.name)
                if vm.host == name
            )
            hosts.append(
                HostView(
                    name=name,
                    topology=Topology(nodes=nodes, distances=topo.distances),
                    state="down" if name in self.down else "up",
                    schedulable=name not in self.down,
                    vms=vms,
                )
            )
        return ClusterView(hosts=tuple(hosts), now=self.now, last_moved=dict(self.last_moved))

    # -- acting ----------------------------------------------------------------------

    def apply(self, action: Action, *, check_room: bool = True) -> None:
        """Carry `action` out. Without `check_room` memory may overfill a node for now, as
        when the moves of one pass run side by side and one frees what another takes
        (`check_room` afterwards: every node must hold its memory once they are done)."""
        vm = self.vms[action.vm]
        assert vm.host == action.host, f"{action.vm} is not on {action.host}"
        if isinstance(action, MemoryMove):
            self._migrate(vm, action.to_nodes, overfill=not check_room)
            self._run_on(vm, action.to_nodes)
        elif isinstance(action, AffinityChange):
            self._run_on(vm, action.nodes)
        elif isinstance(action, HostMove):
            self._arrive(vm, action.to_host, action.to_nodes)
        self.last_moved[vm.name] = self.now

    def check_room(self) -> None:
        """Let the waiting moves take the room the pass freed, then raise DoesNotFit for
        memory that found none."""
        progress = True
        while self.waiting and progress:  # side by side: what one frees, another takes
            progress = False
            waiting, self.waiting = self.waiting, []
            for name, src, to_nodes, amount in waiting:
                vm = self.vms[name]
                topo = self.topologies[vm.host]
                for dst in sorted(to_nodes, key=lambda n: (topo.distance(src, n), n)):
                    take = min(amount, self.free(vm.host, dst))
                    if take > 0:
                        vm.memory[src] -= take
                        vm.memory[dst] = vm.memory.get(dst, 0) + take
                        amount -= take
                        progress = True
                if not vm.memory[src]:
                    del vm.memory[src]
                if amount:
                    self.waiting.append((name, src, to_nodes, amount))
        if self.waiting:
            name, _, to_nodes, amount = self.waiting[0]
            self.waiting = []
            raise DoesNotFit(f"{name}: {amount} bytes found no room in {to_nodes}")
        for host, topo in self.topologies.items():
            for node in topo.nodes:
                over = -self.free(host, node.id)
                if over > 0:
                    raise DoesNotFit(f"{host} node {node.id} holds {over} bytes more than it has")

    def _migrate(self, vm: WorldVm, to_nodes: tuple[int, ...], *, overfill: bool) -> None:
        topo = self.topologies[vm.host]
        for src in [n for n in vm.memory if n not in to_nodes]:
            amount = vm.memory.pop(src)
            targets = sorted(to_nodes, key=lambda n: (topo.distance(src, n), n))
            for dst in targets:
                take = min(amount, self.free(vm.host, dst))
                if take > 0:
                    vm.memory[dst] = vm.memory.get(dst, 0) + take
                    amount -= take
            if amount and overfill:
                vm.memory[src] = amount  # it stays until room appears (`check_room`)
                self.waiting.append((vm.name, src, to_nodes, amount))
            elif amount:
                raise DoesNotFit(f"{vm.name}: {amount} bytes found no room in {to_nodes}")

    def _run_on(self, vm: WorldVm, nodes: tuple[int, ...]) -> None:
        topo = self.topologies[vm.host]
        cpu = frozenset(n for n in nodes if topo.node(n).cpus)
        if cpu:
            vm.cpu_nodes = vm.running = cpu

    def _arrive(self, vm: WorldVm, host: str, nodes: tuple[int, ...]) -> None:
        size = max(vm.resident, vm.guest_bytes or 0)  # it touches the rest on arrival
        free = {n: self.free(host, n) for n in nodes}
        if sum(free.values()) < size:
            raise DoesNotFit(f"{vm.name}: {host} nodes {nodes} cannot hold {size} bytes")
        vm.memory = {}
        vm.host = host
        left = size
        for n in sorted(nodes, key=lambda n: -free[n]):
            take = min(left, free[n])
            if take:
                vm.memory[n] = take
                left -= take
        self._run_on(vm, nodes)


def world_vm(
    name: str,
    host: str,
    *,
    vcpus: int,
    memory: Mapping[int, int],
    cpu_nodes: frozenset[int] | set[int],
    running: frozenset[int] | set[int] | None = None,
) -> WorldVm:
    cpu = frozenset(cpu_nodes)
    return WorldVm(
        name=name,
        host=host,
        vcpus=vcpus,
        memory={n: b for n, b in memory.items() if b},
        cpu_nodes=cpu,
        running=frozenset(running) if running is not None else cpu,
    )


def bare(topology: Topology) -> Topology:
    """The same topology with every node's memory free (the world computes free itself)."""
    return Topology(
        nodes=tuple(
            NumaNode(
                id=n.id,
                cpus=n.cpus,
                offline_cpus=n.offline_cpus,
                memory_total_bytes=n.memory_total_bytes,
                memory_free_bytes=n.memory_total_bytes,
            )
            for n in topology.nodes
        ),
        distances=topology.distances,
    )
