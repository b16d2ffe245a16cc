"""A simulated hypervisor host: VMs whose pages land first-touch, and time that moves.

Every operation is a pure state change (no I/O, no wall clock); `advance(dt)` moves
simulated time, during which VMs touch memory (at the host's touch rate, or all at once
when it has none), balloons move toward their targets, and migrations copy pages at their
bandwidth. The only randomness is the vCPU scheduler's tie-break, drawn from a generator
seeded at construction: the same seed and the same operations give the same host.

The model of a VM's memory: a guest eventually touches all the memory it has (its page
cache fills whatever its workload leaves free), so the host backs `size` bytes — the
configured memory minus the balloon. Pages land on the node of the vCPU that touches
them and spill to the nearest node with room; a strict binding never spills outside its
nodes. When no allowed node has room the VM is *blocked*: the part of its working set
the host could not back counts as host swap until memory frees up.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation
from numaplane.hostagent.drivers.contract import BackendError
from numaplane.hostagent.drivers.sim.binding import MemoryBinding
from numaplane.hostagent.drivers.sim.guest import GuestMemory
from numaplane.hostagent.drivers.sim.memory import NodeMemory
from numaplane.hostagent.drivers.sim.scheduler import VcpuScheduler
from numaplane.hostagent.drivers.sim.spec import SimHostSpec
from numaplane.hostagent.drivers.sim.vm import Migration, SimVm, SimVmState


class SimError(BackendError, ValueError):
    """An operation the simulated host refuses; the message says why.

    Also a ValueError: every refusal is about an argument the host cannot honour (a name
    in use, CPUs it does not have, a binding its nodes cannot hold).
    """


class SimHost:
    def __init__(self, spec: SimHostSpec, *, seed: int = 0) -> None:
        self.spec = spec
        self.seed = seed
        self._scheduler = VcpuScheduler(spec, random.Random(seed))
        self._memory = NodeMemory(spec)
        self._vms: dict[str, SimVm] = {}
        self._active: dict[str, None] = {}
        """VMs with work left (touch, balloon, migration), in start order."""
        self._now = 0.0
        self._version = 0
        self._started = 0
        self._snapshots: tuple[int, tuple[SimVmState, ...]] = (-1, ())
        self.migrated_bytes_total = 0

    # -- reading ---------------------------------------------------------------------

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def now(self) -> float:
        """Simulated seconds since the host was built."""
        return self._now

    @property
    def version(self) -> int:
        """Changes whenever anything observable changes (for callers that cache views)."""
        return self._version

    def free_by_node(self) -> dict[int, int]:
        return self._memory.free_by_node()

    def topology(self) -> Topology:
        return self.spec.topology(self._memory.free_by_node())

    def node_vcpu_load(self, node: int) -> int:
        return self._scheduler.node_load(node)

    def cpu_vcpu_load(self, cpu: int) -> int:
        """vCPUs placed on `cpu` (0: the CPU is idle)."""
        return self._scheduler.cpu_load(cpu)

    def vms(self) -> tuple[SimVmState, ...]:
        """Every VM (running or stopped), in start order."""
        if self._snapshots[0] != self._version:
            self._snapshots = (self._version, tuple(v.snapshot() for v in self._vms.values()))
        return self._snapshots[1]

    def vm(self, name: str) -> SimVmState:
        return self._get(name).snapshot()

    def has_vm(self, name: str) -> bool:
        return name in self._vms

    def observe(self, observed_at: float | None = None) -> HostObservation:
        return HostObservation(
            free_by_node=self._memory.free_by_node(),
            vms=tuple(v.observation() for v in self.vms()),
            observed_at=self._now if observed_at is None else observed_at,
        )

    # -- operations ------------------------------------------------------------------

    def start_vm(
        self,
        name: str,
        vcpus: int,
        memory_bytes: int,
        *,
        cpus: Iterable[int] | None = None,
        binding: MemoryBinding | None = None,
        working_set_bytes: int | None = None,
    ) -> SimVmState:
        """Start a VM; `cpus` None = any online CPU, `binding` None = first-touch."""
        binding = binding or MemoryBinding.none()
        if name in self._vms:
            raise SimError(f"{self.name}: a VM named {name!r} already exists")
        if vcpus < 1 or memory_bytes < 1:
            raise SimError(f"{name}: needs at least one vCPU and some memory")
        if working_set_bytes is not None and not 0 <= working_set_bytes <= memory_bytes:
            raise SimError(f"{name}: working set must be within the VM's memory")
        allowed = self._allowed_cpus(name, cpus)
        self._check_binding(name, binding)
        if binding.mode == "strict":
            room = sum(self._memory.free(n) for n in binding.nodes)
            if room < memory_bytes:
                raise SimError(
                    f"{name}: strict binding to nodes {sorted(binding.nodes)} cannot hold "
                    f"{memory_bytes} bytes ({room} free)"
                )
        self._started += 1
        vm = SimVm(
            id=f"{self.name}-vm{self._started}",
            name=name,
            vcpus=vcpus,
            allowed_cpus=allowed,
            vcpu_cpus=self._scheduler.place(vcpus, allowed),
            binding=binding,
            guest=GuestMemory.fresh(memory_bytes, working_set_bytes),
            started_at=self._now,
        )
        self._vms[name] = vm
        self._activate(vm)
        return vm.snapshot()

    def stop_vm(self, name: str) -> None:
        """Shut a VM off: its memory and CPUs go back to the host; its record stays."""
        vm = self._get(name)
        if vm.state != "running":
            return
        self._memory.release_all(vm)
        self._scheduler.release(vm.vcpu_cpus)
        vm.vcpu_cpus = []
        vm.state = "shutoff"
        vm.migration = None
        vm.blocked = False
        self._active.pop(name, None)
        self._version += 1

    def delete_vm(self, name: str) -> None:
        self.stop_vm(name)
        del self._vms[name]
        self._version += 1

    def set_vcpu_affinity(self, name: str, cpus: Iterable[int]) -> None:
        """Re-pin a VM's vCPUs to `cpus`; the scheduler places them again within it."""
        vm = self._running(name)
        allowed = self._allowed_cpus(name, cpus)
        self._scheduler.release(vm.vcpu_cpus)
        vm.allowed_cpus = allowed
        vm.vcpu_cpus = self._scheduler.place(vm.vcpus, allowed)
        self._version += 1

    def move_vcpu(self, name: str, index: int, cpu: int) -> None:
        """Run vCPU `index` of a VM on `cpu` from now on, within its affinity.

        What the kernel's scheduler does to one task without changing its mask (automatic
        NUMA balancing moving a task to its preferred node); the affinity stays as it is.
        """
        vm = self._running(name)
        if not 0 <= index < len(vm.vcpu_cpus):
            raise SimError(f"{name} has no vCPU {index}")
        if cpu not in vm.allowed_cpus:
            raise SimError(f"{name}: CPU {cpu} is outside its affinity {list(vm.allowed_cpus)}")
        old = vm.vcpu_cpus[index]
        if old == cpu:
            return
        self._scheduler.move(old, cpu)
        vm.vcpu_cpus[index] = cpu
        self._version += 1

    def move_pages(self, name: str, from_node: int, to_node: int, nbytes: int) -> int:
        """Move up to `nbytes` of a VM's pages from one node to another now; the bytes moved.

        Bounded by what the VM has on `from_node` and the room on `to_node`; the binding
        stays as it is, and a strict one must include `to_node` (Linux migrates a page
        only where the task may allocate). For callers that move pages a few at a time at
        their own pace — a model of the kernel migrating pages on fault — where
        `migrate_memory` moves a whole VM to a node set over time. The bytes count in
        `migrated_bytes_total` like a migration's.
        """
        vm = self._running(name)
        for node in (from_node, to_node):
            if node not in self._memory.total:
                raise SimError(f"{name}: node {node} is not a node of {self.name}")
        if vm.binding.mode == "strict" and to_node not in vm.binding.nodes:
            raise SimError(
                f"{name}: node {to_node} is outside its strict binding {sorted(vm.binding.nodes)}"
            )
        if nbytes < 0:
            raise SimError(f"{name}: cannot move a negative number of bytes")
        moved = self._memory.move(vm, from_node, to_node, nbytes)
        if moved:
            vm.migrated_bytes_total += moved
            self.migrated_bytes_total += moved
            self._version += 1
        return moved

    def set_memory_binding(self, name: str, binding: MemoryBinding) -> None:
        """Change where future pages go; pages already placed stay (see migrate_memory)."""
        vm = self._running(name)
        self._check_binding(name, binding)
        vm.binding = binding
        self._activate(vm)

    def migrate_memory(
        self, name: str, to_nodes: Iterable[int], bandwidth_bytes_per_s: float, *, bind: bool = True
    ) -> None:
        """Move a VM's pages to `to_nodes` at a bandwidth, over the next `advance` calls.

        With `bind` (the default, as numad and libvirt's numatune do) the VM's memory is
        also bound strictly to `to_nodes`, so new pages land there too.
        """
        vm = self._running(name)
        target = frozenset(to_nodes)
        if not target:
            raise SimError(f"{name}: migration needs at least one target node")
        self._check_binding(name, MemoryBinding.strict(target))
        if bandwidth_bytes_per_s <= 0:
            raise SimError(f"{name}: migration bandwidth must be > 0")
        if bind:
            vm.binding = MemoryBinding.strict(target)
        vm.migration = Migration(to_nodes=target, bandwidth_bytes_per_s=bandwidth_bytes_per_s)
        self._activate(vm)

    def cancel_migration(self, name: str) -> None:
        """Stop a VM's migration where it is: pages already moved stay, the binding stays.

        What an agent that stops mid-copy leaves behind (migrate_pages runs in the agent's
        thread; nothing carries on without it)."""
        vm = self._running(name)
        if vm.migration is not None:
            vm.migration = None
            self._version += 1

    def set_balloon_target(self, name: str, target_bytes: int) -> None:
        vm = self._running(name)
        try:
            vm.guest.set_target(target_bytes)
        except ValueError as e:
            raise SimError(f"{name}: {e}") from None
        self._activate(vm)

    def set_working_set(self, name: str, working_set_bytes: int) -> None:
        vm = self._running(name)
        try:
            vm.guest.set_working_set(working_set_bytes)
        except ValueError as e:
            raise SimError(f"{name}: {e}") from None
        self._activate(vm)

    def advance(self, dt: float) -> None:
        """Move simulated time forward by `dt` seconds."""
        if dt < 0:
            raise SimError(f"time cannot go backwards (dt={dt})")
        self._now += dt
        for name in list(self._active):
            vm = self._vms[name]
            if self._step(vm, dt):
                self._version += 1
            if not self._has_work(vm):
                del self._active[name]

    # -- internals -------------------------------------------------------------------

    def _step(self, vm: SimVm, dt: float) -> bool:
        """One step of a VM's memory: balloon, then touch or release, then migration."""
        changed = vm.guest.step(dt, self.spec.balloon_rate_bytes_per_s)
        gap = vm.guest.size_bytes - vm.resident_bytes
        if gap < 0:
            self._memory.release(vm, -gap)
            changed = True
        elif gap > 0:
            rate = self.spec.touch_rate_bytes_per_s
            want = gap if rate is None else min(gap, int(rate * dt))
            if want > 0:
                nodes = [self._scheduler.node_of(c) for c in vm.vcpu_cpus]
                got = self._memory.touch(vm, want, nodes)
                blocked = got < want
                changed = changed or got > 0 or blocked != vm.blocked
                vm.blocked = blocked
        elif vm.blocked:
            vm.blocked = False
            changed = True
        if vm.migration is not None:
            budget = int(vm.migration.bandwidth_bytes_per_s * dt)
            moved = self._memory.migrate(vm, vm.migration.to_nodes, budget)
            vm.migrated_bytes_total += moved
            self.migrated_bytes_total += moved
            stalled = moved == 0 and budget > 0
            changed = changed or moved > 0 or stalled != vm.migration.stalled
            vm.migration.stalled = stalled
            if self._memory.outside(vm, vm.migration.to_nodes) == 0:
                vm.migration = None
                changed = True
        return changed

    def _has_work(self, vm: SimVm) -> bool:
        return vm.state == "running" and (
            vm.guest.size_bytes != vm.guest.target_bytes
            or vm.resident_bytes != vm.guest.size_bytes
            or vm.migration is not None
        )

    def _activate(self, vm: SimVm) -> None:
        """Apply what needs no time now (rates of None), and keep the rest for advance."""
        self._step(vm, 0.0)
        self._version += 1
        if self._has_work(vm):
            self._active[vm.name] = None

    def _get(self, name: str) -> SimVm:
        try:
            return self._vms[name]
        except KeyError:
            raise SimError(f"{self.name}: no VM named {name!r}") from None

    def _running(self, name: str) -> SimVm:
        vm = self._get(name)
        if vm.state != "running":
            raise SimError(f"{name} is {vm.state}, not running")
        return vm

    def _allowed_cpus(self, name: str, cpus: Iterable[int] | None) -> tuple[int, ...]:
        if cpus is None:
            return self.spec.cpus_of_nodes(self.spec.node_ids)
        allowed = tuple(sorted(set(cpus)))
        if not allowed:
            raise SimError(f"{name}: the CPU set is empty")
        offline = [c for c in allowed if not self._scheduler.is_online(c)]
        if offline:
            raise SimError(f"{name}: CPUs {offline} are not online CPUs of {self.name}")
        return allowed

    def _check_binding(self, name: str, binding: MemoryBinding) -> None:
        unknown = sorted(n for n in binding.nodes if n not in self._memory.total)
        if unknown:
            raise SimError(f"{name}: nodes {unknown} are not nodes of {self.name}")
        if binding.mode != "none" and not any(self._memory.total[n] for n in binding.nodes):
            raise SimError(f"{name}: nodes {sorted(binding.nodes)} have no memory")
