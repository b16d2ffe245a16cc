"""Floating VMs off a host with more vCPUs than CPUs, to a host with CPUs idle.

A placement without NUMA (or CPU) awareness fills hosts by memory: a host may end up
running 40 vCPUs on 32 CPUs while the next one idles, and no move on the host helps —
every node of it is as busy as the host. For VMs nobody placed (nothing binds their
vCPUs nor their memory) numaplane owns the whole placement, host included, so such a
VM live-migrates to a host that has CPU room for it, wholly local there on a compact
node set, while its host carries more vCPUs than its CPUs x `cpu_overcommit`. VMs
something placed (a placement's binding, a toolstack's node-affinity, an administrator's
pin) are left on their host; those whose host the operator fixed never move.

Which VM: the one whose move relieves most per byte copied (fewest bytes per vCPU),
then by name. Where: the host left least loaded by it, among those that stay within
their CPUs x `cpu_overcommit` with it and keep `pressure_free_fraction` of memory free.
Each move is charged to both hosts' budgets. It cannot ping-pong: a move lowers the
source's vCPUs per CPU and leaves the target within the limit the source was over.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from numaplane.common.units import format_size
from numaplane.controller.policy.rebalance.context import RebalanceContext
from numaplane.controller.policy.rebalance.host_model import HostModel, VmState
from numaplane.controller.policy.rebalance.node_choice import compact_home, needed_nodes
from numaplane.controller.policy.rebalance.pressure import NOWHERE, planned_host_move
from numaplane.controller.policy.rebalance.settings import RebalanceSettings
from numaplane.controller.policy.types import HostMove

Affordable = Callable[[str, str, int], bool]
"""Whether both hosts' budgets take a copy of this many bytes (and, if so, charge it)."""


def vcpus_per_cpu(model: HostModel) -> float:
    """The host's vCPUs per CPU (nodes with CPUs only)."""
    cpus = sum(n.cpus for n in model.nodes.values())
    return sum(n.load for n in model.nodes.values()) / cpus if cpus else 0.0


def cpu_overloaded(model: HostModel, s: RebalanceSettings) -> bool:
    return vcpus_per_cpu(model) > s.cpu_overcommit + 1e-9


def cpu_host_moves(
    models: Mapping[str, HostModel],
    movable: Callable[[VmState], bool],
    ctx: RebalanceContext,
    s: RebalanceSettings,
    affordable: Affordable,
) -> list[HostMove]:
    """Live migrations of floating VMs off CPU-overloaded hosts; carried out on `models`."""
    out: list[HostMove] = []
    for name in sorted(models):
        source = models[name]
        if not ctx.can_live_migrate(name):
            continue
        candidates = sorted(
            (
                vm
                for vm in source.vms.values()
                if vm.view.floating and not vm.view.pinned_host and not vm.moved
                and vm.resident > 0 and movable(vm)
            ),
            key=lambda vm: (vm.resident / max(1, vm.vcpus), vm.name),
        )  # fmt: skip
        for vm in candidates:
            if not cpu_overloaded(source, s):
                break
            target = _target(vm, name, models.values(), ctx, s)
            if target is None:
                continue
            host, nodes = target
            if not affordable(name, host.name, vm.resident):
                continue
            before = vcpus_per_cpu(source)
            reason = (
                f"{name} runs {before:.2f} vCPUs per CPU (limit {s.cpu_overcommit:g}) and "
                f"{vm.name} floats: live-migrate it ({format_size(vm.resident)}, "
                f"{vm.vcpus} vCPUs) to {host.name} nodes {','.join(map(str, nodes))}, "
                "which has CPUs for it and where it is wholly local"
            )
            out.append(
                planned_host_move(source, host, vm, nodes, copied=vm.resident, reason=reason)
            )
    return out


def _target(
    vm: VmState,
    source: str,
    models: Iterable[HostModel],
    ctx: RebalanceContext,
    s: RebalanceSettings,
) -> tuple[HostModel, tuple[int, ...]] | None:
    """The host left least loaded by `vm`, within its CPU limit and memory line, with a
    compact home for it; None when there is none."""
    best: tuple[float, str, HostModel, tuple[int, ...]] | None = None
    for model in models:
        if model.name == source or not model.view.schedulable:
            continue
        if not ctx.can_live_migrate(model.name):
            continue
        cpus = sum(n.cpus for n in model.nodes.values())
        after = (sum(n.load for n in model.nodes.values()) + vm.vcpus) / cpus if cpus else 0.0
        if after > s.cpu_overcommit + 1e-9:
            continue
        line = int(s.pressure_free_fraction * model.total_memory())
        if model.total_free() - vm.resident < line:
            continue
        stranger = VmState(
            view=vm.view, memory={NOWHERE: vm.resident}, running=frozenset(),
            load_nodes=frozenset(), bound=True,
        )  # fmt: skip
        nodes = compact_home(model, stranger)
        if nodes is None or len(nodes) > needed_nodes(model, stranger):
            continue
        if best is None or (after, model.name) < (best[0], best[1]):
            best = (after, model.name, model, nodes)
    return None if best is None else (best[2], best[3])
