"""StartVm/StopVm on the simulated host: the VM's memory really lands on the chosen nodes.

A strict binding makes the sim refuse a VM its nodes cannot hold (checked here first,
under the backend's lock, so the refusal is a `NoRoomError` the controller retries
elsewhere); a preferred binding lets memory spill to the nearest other node, as Linux's
MPOL_PREFERRED does. vCPUs may run on the CPUs the command names (the sim's scheduler
picks among them, least-loaded first).
"""

from __future__ import annotations

from numaplane.common.units import format_size
from numaplane.hostagent.drivers.contract import NoRoomError, VmStart
from numaplane.hostagent.drivers.sim import MemoryBinding, SimBackend, SimHost


class SimLifecycle:
    def __init__(self, backend: SimBackend) -> None:
        self._backend = backend

    def start_vm(self, start: VmStart) -> str:
        return self._backend.with_host(lambda host: _start(host, start))

    def stop_vm(self, name: str) -> str:
        return self._backend.with_host(lambda host: _stop(host, name))


def _binding(start: VmStart) -> MemoryBinding:
    if not start.nodes:
        return MemoryBinding.none()
    if start.strict_memory:
        return MemoryBinding.strict(start.nodes)
    return MemoryBinding.preferred(start.nodes)


def _start(host: SimHost, start: VmStart) -> str:
    if host.has_vm(start.name):
        vm = host.vm(start.name)
        if vm.state == "running":
            return f"{start.name} already runs on {host.name}"
        host.delete_vm(start.name)  # a stopped leftover of the same name: start afresh
    binding = _binding(start)
    if binding.mode == "strict":
        free = host.free_by_node()
        room = sum(free.get(n, 0) for n in binding.nodes)
        # The simulated host backs a VM's whole configured memory at boot and only then
        # lets its balloon settle at the limit, so a strict binding needs room for all.
        if room < start.memory_bytes:
            raise NoRoomError(
                f"no room: nodes {','.join(map(str, sorted(binding.nodes)))} of {host.name} "
                f"have {format_size(room)} free for {format_size(start.memory_bytes)}"
            )
    host.start_vm(
        start.name,
        start.vcpus,
        start.memory_bytes,
        cpus=start.cpus or None,
        binding=binding,
    )
    if start.boot_bytes < start.memory_bytes:
        # Booted with its balloon at the limit: the sim settles there as time moves.
        host.set_balloon_target(start.name, start.boot_bytes)
    where = f"{binding.mode} on nodes {','.join(map(str, sorted(binding.nodes)))}"
    return f"started {start.name} ({start.vcpus} vCPUs, {format_size(start.memory_bytes)}, " + (
        where if binding.mode != "none" else "unbound"
    ) + ")"


def _stop(host: SimHost, name: str) -> str:
    if not host.has_vm(name):
        return f"{name} is not on {host.name} (nothing to stop)"
    host.delete_vm(name)
    return f"stopped and removed {name}"
