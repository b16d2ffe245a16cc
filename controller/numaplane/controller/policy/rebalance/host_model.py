"""One host as the planner changes it: free memory and vCPU load per node, VMs' memory.

The planner decides moves one at a time and must see each earlier move's effect on the
next (two VMs must not both be sent into the same free gigabyte), so it works on this
mutable copy of a `HostView`, never on the view itself. Moves are applied the way the
simulator and the kernel carry them out: the pages of each source node go to the target
nodes nearest to it, the one with most room first; vCPUs follow to the target nodes.

vCPU load is counted where the vCPUs last ran (vcpus / k on each of the k nodes), since
that is the load a node carries now; a VM whose vCPUs' positions are unknown counts on
the nodes it may run on. Nodes without CPUs (memory-only, such as CXL expanders) are
never targets: a vCPU cannot run there, so memory moved there could not be local.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from numaplane.common.locality import locality, node_set_share, spread_evenly
from numaplane.controller.policy.types import HostView, VmView


@dataclass
class NodeState:
    id: int
    cpus: int
    total: int
    free: int
    """Free memory after claims in flight and the moves planned so far."""
    load: float = 0.0
    """vCPUs that may run here (bound ones split over their nodes)."""
    uncertain: int = 0
    """Memory a move planned into a set of several nodes may still put here beyond the
    model's guess of its split: where within the set each page lands is the executor's
    choice (the sim backend and the linux mover split differently), so later moves of the
    same pass do not count on it."""


@dataclass
class VmState:
    view: VmView
    memory: dict[int, int]
    running: frozenset[int]
    load_nodes: frozenset[int]
    bound: bool
    """The vCPUs are bound to a strict subset of the host's CPU nodes."""
    moved: bool = False
    """A move of this VM is already in the plan."""
    vcpus_at: dict[int, float] = field(default_factory=dict)
    """vCPUs per node as they ran (the view's), and spread evenly over their nodes once a
    planned move re-binds them."""

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def vcpus(self) -> int:
        return self.view.vcpus

    @property
    def resident(self) -> int:
        return sum(self.memory.values())

    @property
    def locality(self) -> float:
        """Per-vCPU locality (`numaplane.common.locality`), as planned so far."""
        return locality(self.memory, self.vcpus_at or spread_evenly(self.vcpus, self.running))

    @property
    def node_set_locality(self) -> float:
        """Share of its memory on the nodes where its vCPUs run: what the rules that move
        memory onto those nodes raise (they make it 1.0)."""
        return node_set_share(self.memory, self.running)

    def local_bytes(self, nodes: Iterable[int]) -> int:
        wanted = set(nodes)
        return sum(b for n, b in self.memory.items() if n in wanted)

    def outside(self, nodes: Iterable[int]) -> int:
        return self.resident - self.local_bytes(nodes)

    def load_on(self, node: int) -> float:
        if node not in self.load_nodes or not self.load_nodes:
            return 0.0
        return self.vcpus / len(self.load_nodes)


@dataclass
class HostModel:
    view: HostView
    nodes: dict[int, NodeState]
    vms: dict[str, VmState] = field(default_factory=dict)
    headroom_fraction: float = 0.0
    cpu_overcommit: float = 1.0

    @classmethod
    def of(
        cls, host: HostView, *, headroom_fraction: float = 0.0, cpu_overcommit: float = 1.0
    ) -> HostModel:
        topo = host.topology
        nodes = {
            n.id: NodeState(
                id=n.id,
                cpus=len(n.cpus),
                total=n.memory_total_bytes,
                free=max(0, host.available_bytes(n.id)),
            )
            for n in topo.nodes
        }
        model = cls(host, nodes, headroom_fraction=headroom_fraction, cpu_overcommit=cpu_overcommit)
        cpu_nodes = frozenset(n.id for n in topo.nodes if n.cpus)
        for vm in host.vms:
            bound = bool(vm.cpu_nodes) and vm.cpu_nodes < cpu_nodes
            load_nodes = vm.running_nodes or vm.cpu_nodes
            state = VmState(
                view=vm,
                memory={n: b for n, b in vm.memory_by_node.items() if b > 0},
                running=vm.running_nodes,
                load_nodes=frozenset(n for n in load_nodes if n in nodes),
                bound=bound,
                vcpus_at=dict(vm.vcpu_nodes),
            )
            model.vms[vm.name] = state
            model._add_load(state, 1.0)
        return model

    # -- reading ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.view.name

    @property
    def node_ids(self) -> tuple[int, ...]:
        return self.view.topology.node_ids

    @property
    def target_ids(self) -> tuple[int, ...]:
        """Nodes a VM may be moved to: those with both CPUs and memory."""
        return tuple(n for n, s in self.nodes.items() if s.cpus > 0 and s.total > 0)

    def is_target(self, node: int) -> bool:
        s = self.nodes.get(node)
        return s is not None and s.cpus > 0 and s.total > 0

    def distance(self, a: int, b: int) -> int:
        return self.view.topology.distance(a, b)

    def room(self, node: int) -> int:
        """Memory a move may still put on `node` (its free memory minus the headroom)."""
        return max(0, self.slack(node))

    def slack(self, node: int) -> int:
        """Free memory minus the headroom: negative when the node is already inside it."""
        n = self.nodes[node]
        return n.free - n.uncertain - int(n.total * self.headroom_fraction)

    def cpu_capacity(self, node: int) -> float:
        n = self.nodes[node]
        return n.cpus * self.cpu_overcommit

    def cpu_room(self, node: int, without: VmState | None = None) -> float:
        """vCPUs `node` may still take (negative when it is over the limit)."""
        own = without.load_on(node) if without is not None else 0.0
        return self.cpu_capacity(node) - (self.nodes[node].load - own)

    def overload(self, node: int, tolerance: float = 0.0) -> float:
        """vCPUs above the node's limit times (1 + tolerance) (0 when within it)."""
        return max(0.0, self.nodes[node].load - self.cpu_capacity(node) * (1.0 + tolerance))

    def fits(self, vm: VmState, to_nodes: Iterable[int]) -> bool:
        """The memory of `vm` outside `to_nodes` fits in their room."""
        targets = tuple(to_nodes)
        return vm.outside(targets) <= sum(self.room(n) for n in targets)

    def total_memory(self) -> int:
        return sum(n.total for n in self.nodes.values())

    def total_free(self) -> int:
        return sum(n.free for n in self.nodes.values())

    # -- changing --------------------------------------------------------------------

    def move(self, vm: VmState, to_nodes: tuple[int, ...]) -> int:
        """Move `vm`'s memory into `to_nodes` and its vCPUs onto them; the bytes moved."""
        targets = set(to_nodes)
        moved = 0
        rooms = {n: self.room(n) for n in targets}
        held = {n: vm.memory.get(n, 0) for n in targets}
        sources = sorted((n for n in vm.memory if n not in targets), key=lambda n: -vm.memory[n])
        for src in sources:
            amount = vm.memory.pop(src)
            self.nodes[src].free += amount
            for dst in sorted(targets, key=lambda n: (self.distance(src, n), -self.room(n), n)):
                take = min(amount, self.room(dst))
                if take > 0:
                    self.nodes[dst].free -= take
                    vm.memory[dst] = vm.memory.get(dst, 0) + take
                    amount -= take
                    moved += take
            if amount:
                # No room left (the caller checked `fits`, so only rounding): keep it home.
                self.nodes[src].free -= amount
                vm.memory[src] = vm.memory.get(src, 0) + amount
        self._hedge(rooms, {n: vm.memory.get(n, 0) - held[n] for n in targets}, moved)
        self.rebind(vm, to_nodes)
        return moved

    def place(self, vm: VmState, split: Mapping[int, int]) -> int:
        """Put `vm`'s memory where `split` says (bytes per node, summing to its resident
        memory) — the end state of moves planned together, which may have traded room
        between VMs; the bytes that change node. The caller checked that it fits."""
        rooms = {n: self.room(n) for n in split}
        moved = vm.outside(split)
        for node, b in vm.memory.items():
            self.nodes[node].free += b
        for node, b in split.items():
            self.nodes[node].free -= b
        added = {n: split[n] - vm.memory.get(n, 0) for n in split}
        vm.memory = {n: b for n, b in split.items() if b > 0}
        vm.moved = True
        self._hedge(rooms, added, moved)
        return moved

    def _hedge(self, rooms: Mapping[int, int], added: Mapping[int, int], total: int) -> None:
        """After `total` bytes were planned into several nodes (`added`, the model's guess),
        mark on each what the executor could still put there instead (`NodeState.uncertain`)."""
        if len(added) < 2:
            return
        for n, guess in added.items():
            self.nodes[n].uncertain += max(0, min(total, rooms[n]) - guess)

    def reserve(self, nodes: Iterable[int], nbytes: int) -> None:
        """Keep `nbytes` of `nodes`' room for memory a guest will touch there (its growth):
        later moves of the pass do not count on it (`NodeState.uncertain`)."""
        left = nbytes
        for n in sorted(nodes, key=lambda n: (-self.room(n), n)):
            take = min(left, self.room(n))
            self.nodes[n].uncertain += take
            left -= take

    def rebind(self, vm: VmState, to_nodes: Iterable[int]) -> None:
        """Bind `vm`'s vCPUs to the CPU nodes among `to_nodes` (they run there from now on).

        Without a CPU node among them (memory-only nodes) the vCPUs stay where they are.
        """
        nodes = frozenset(n for n in to_nodes if self.nodes[n].cpus > 0)
        vm.moved = True
        if not nodes:
            return
        self._add_load(vm, -1.0)
        vm.load_nodes = nodes
        vm.running = nodes
        vm.vcpus_at = spread_evenly(vm.vcpus, nodes)
        vm.bound = True
        self._add_load(vm, 1.0)

    def remove(self, vm: VmState) -> None:
        """Take `vm` off the host (it leaves by live migration)."""
        self._add_load(vm, -1.0)
        for node, b in vm.memory.items():
            self.nodes[node].free += b
        vm.memory = {}
        vm.moved = True
        del self.vms[vm.name]

    def arrive(self, vm: VmState, memory: Mapping[int, int], nodes: tuple[int, ...]) -> None:
        """Add a VM arriving by live migration, bound to `nodes` with `memory` there."""
        rooms = {n: self.room(n) for n in nodes}
        self._hedge(rooms, {n: memory.get(n, 0) for n in nodes}, sum(memory.values()))
        for node, b in memory.items():
            self.nodes[node].free -= b
        vm.memory = dict(memory)
        vm.load_nodes = vm.running = frozenset(n for n in nodes if self.nodes[n].cpus > 0)
        vm.vcpus_at = spread_evenly(vm.vcpus, vm.running)
        vm.bound = vm.moved = True
        self.vms[vm.name] = vm
        self._add_load(vm, 1.0)

    def _add_load(self, vm: VmState, sign: float) -> None:
        for node in vm.load_nodes:
            self.nodes[node].load += sign * vm.load_on(node)
