"""Moves on the simulated host: memory at a modelled bandwidth, vCPUs, and live migration
to another simulated host of the same fabric.

Memory: the simulator migrates at the command's rate as its clock advances
(`SimHost.migrate_memory`, which also binds the memory to the targets, as numatune
does); the mover follows it, reporting progress, until nothing is left outside the
targets. If the targets fill up the migration stalls; stalled for `stall_timeout_s`,
the mover stops it and fails. Cancelled (the agent is stopping), it stops the simulated
migration where it is — a migration runs in the agent's thread, nothing carries on
without it — and a resumed command moves the rest.

Live migration (`sim_fabric` explains why a fabric): the source's memory is "copied"
for resident / rate seconds of the backend's clock, then, in one step each, the VM
starts on the target (same size, working set and balloon; memory and vCPUs bound to the
target nodes when given) and is removed from the source. A cancelled copy changes
nothing on either host. Resumed after the switch (the VM already runs on the target),
it finishes the switch or reports it done.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import TypeVar

from numaplane.common.units import MiB, format_size
from numaplane.hostagent.drivers.contract import (
    LiveMigration,
    MemoryMigration,
    MoveCancelled,
    MoveError,
    Mover,
    Progress,
)
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimError,
    SimHost,
    SimVmState,
)
from numaplane.hostagent.drivers.sim.fabric import fabric_of

T = TypeVar("T")

DEFAULT_RATE_BYTES_PER_S = 512 * MiB
"""A command's rate when it gives none (rate_mib_s 0)."""


class SimMover(Mover):
    name = "sim"

    def __init__(
        self,
        backend: SimBackend,
        *,
        poll_s: float = 0.05,
        stall_timeout_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._backend = backend
        self._poll_s = poll_s
        self._stall_timeout_s = stall_timeout_s
        self._clock = clock

    @property
    def can_live_migrate(self) -> bool:
        return fabric_of(self._backend) is not None

    # -- memory ------------------------------------------------------------------------

    def migrate_memory(
        self, move: MemoryMigration, progress: Progress, cancel: threading.Event
    ) -> str:
        targets = frozenset(move.to_nodes)
        rate = move.rate_bytes_per_s or DEFAULT_RATE_BYTES_PER_S

        def start(host: SimHost) -> tuple[int, int]:
            state = host.vm(move.vm)
            unknown = sorted(n for n in targets if n not in host.spec.node_ids)
            if unknown or not targets:
                raise SimError(f"nodes {unknown or '(none)'} are not nodes of {host.name}")
            if move.rebind_vcpus:
                host.set_vcpu_affinity(move.vm, host.spec.cpus_of_nodes(targets))
            host.migrate_memory(move.vm, targets, rate)
            return _outside(state, targets), state.migrated_bytes_total

        total, base = self._act(start)
        progress(0, total, f"{format_size(total)} outside nodes {_ids(targets)}")
        stalled_since: float | None = None
        while True:
            state = self._act(lambda host: host.vm(move.vm))
            done = state.migrated_bytes_total - base
            if state.migrating_to is None:
                progress(done, total, "done")
                break
            now = self._clock()
            if state.migration_stalled:
                stalled_since = stalled_since if stalled_since is not None else now
                if now - stalled_since >= self._stall_timeout_s:
                    self._act(lambda host: host.cancel_migration(move.vm))
                    raise MoveError(
                        f"nodes {_ids(targets)} are full: {format_size(done)} of "
                        f"{format_size(total)} moved"
                    )
            else:
                stalled_since = None
            progress(done, total, "stalled: target nodes full" if stalled_since else "")
            if cancel.wait(self._poll_s):
                self._act(lambda host: host.cancel_migration(move.vm))
                raise MoveCancelled(f"stopped after {format_size(done)} of {format_size(total)}")
        return (
            f"moved {format_size(done)} of {move.vm} to nodes {_ids(targets)} "
            f"at {rate / MiB:.0f} MiB/s" + (", vCPUs bound there" if move.rebind_vcpus else "")
        )

    def set_vcpu_affinity(self, vm: str, cpus: tuple[int, ...]) -> str:
        self._act(lambda host: host.set_vcpu_affinity(vm, cpus))
        return f"bound the vCPUs of {vm} to CPUs {_ids(cpus)}"

    # -- live migration ----------------------------------------------------------------

    def live_migrate(self, move: LiveMigration, progress: Progress, cancel: threading.Event) -> str:
        fabric = fabric_of(self._backend)
        target = fabric.backend(move.target_host) if fabric is not None else None
        if target is None or target is self._backend:
            raise MoveError(f"no simulated host {move.target_host!r} to migrate {move.vm} to")
        here = self._act(lambda host: _running(host, move.vm))
        there = target.with_host(lambda host: _running(host, move.vm))
        if here is None:
            if there is not None:
                return f"{move.vm} already runs on {move.target_host}"
            raise MoveError(f"no VM named {move.vm!r} on this host")
        if there is None:
            self._copy(here, move, progress, cancel)
            try:
                target.with_host(lambda host: _start_copy(host, here, move.target_nodes))
            except SimError as e:
                raise MoveError(f"{move.target_host} refused {move.vm}: {e}") from None
        self._act(lambda host: host.delete_vm(move.vm))
        where = f" nodes {_ids(move.target_nodes)}" if move.target_nodes else ""
        return f"live-migrated {move.vm} ({format_size(here.resident_bytes)}) to " + (
            f"{move.target_host}{where}"
        )

    def _copy(
        self, vm: SimVmState, move: LiveMigration, progress: Progress, cancel: threading.Event
    ) -> None:
        """Wait the copy's time at the rate, reporting progress; MoveCancelled if stopped."""
        rate = move.rate_bytes_per_s or DEFAULT_RATE_BYTES_PER_S
        total = vm.resident_bytes
        started = self._clock()
        while True:
            done = min(total, int((self._clock() - started) * rate))
            progress(done, total, f"copying to {move.target_host}")
            if done >= total:
                return
            if cancel.wait(self._poll_s):
                raise MoveCancelled(
                    f"copy to {move.target_host} stopped at {format_size(done)} of "
                    f"{format_size(total)}; {move.vm} still runs here"
                )

    def _act(self, fn: Callable[[SimHost], T]) -> T:
        try:
            return self._backend.with_host(fn)
        except SimError as e:
            raise MoveError(str(e)) from None


def _running(host: SimHost, vm: str) -> SimVmState | None:
    if not host.has_vm(vm):
        return None
    state = host.vm(vm)
    return state if state.state == "running" else None


def _start_copy(host: SimHost, vm: SimVmState, nodes: tuple[int, ...]) -> None:
    if nodes:
        cpus: tuple[int, ...] | None = host.spec.cpus_of_nodes(nodes)
        binding = MemoryBinding.strict(nodes)
    else:
        cpus, binding = None, MemoryBinding.none()
    host.start_vm(
        vm.name, vm.vcpus, vm.memory_bytes, cpus=cpus, binding=binding,
        working_set_bytes=vm.working_set_bytes,
    )  # fmt: skip
    if vm.balloon_target_bytes != vm.memory_bytes:
        host.set_balloon_target(vm.name, vm.balloon_target_bytes)


def _outside(vm: SimVmState, nodes: frozenset[int]) -> int:
    return sum(b for n, b in vm.memory_by_node.items() if n not in nodes)


def _ids(nodes: tuple[int, ...] | frozenset[int]) -> str:
    return ",".join(str(n) for n in sorted(nodes))
