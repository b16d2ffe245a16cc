"""`xen`: Xen libxl's automatic NUMA placement, on a host chosen first-fit.

A faithful model of what `xl create` does on one host, from the libxl sources
(`tools/libs/light/libxl_numa.c`: libxl__get_numa_candidate; `libxl_dom.c`:
numa_place_domain, numa_cmpf, libxl__build_pre) and the xl-numa-placement document
(`docs/misc/xl-numa-placement.markdown`). libxl has no view of a cluster, so the host
is the first one with room (`first_fit_host`), as the toolstack an operator points at.

On that host:

1. Candidates are node sets, among the nodes with CPUs, whose free memory (summed) is at
   least the VM's memory and whose CPUs (summed) are at least its vCPUs.
2. Sizes are tried in increasing order, starting at ceil(vCPUs / CPUs per node) when every
   node has the same number of CPUs (else at 1); the search stops at the first size that
   has any candidate — a smaller set always beats a larger one.
3. Within that size, subsets are visited in lexicographic order and compared with
   numa_cmpf: fewer vCPUs already able to run on the set wins; on equal counts, more free
   memory (in KiB, as libxl counts it) wins; a full tie keeps the first one met.
   A running vCPU counts once on every node that both its affinity and its domain's
   node-affinity cover (nr_vcpus_on_nodes), i.e. `VmView.cpu_nodes` ∩ `bound_nodes`.
   The count is raw, not per CPU: that is libxl's comparison.
4. No candidate (nothing fits), a single-node host, or more than 16 nodes: libxl does not
   place, and the domain keeps affinity to every node and CPU.

What the result becomes (libxl__build_pre, Xen >= 4.5): the node set is the domain's
node-affinity and the soft affinity of all its vCPUs; their hard affinity stays "all".
So `bind_memory` is False: Xen allocates the domain's memory from its node-affinity
first, cycling over those nodes (hence `split_evenly`), but falls back to any other
node when they run out (page_alloc.c, "when we have tried all in nodemask, we fall back
to others"; only MEMF_exact_node would fail instead), and the vCPUs may run elsewhere.

Tolerance: today's numa_cmpf compares exactly — there is no tolerance band on free
memory (Xen 4.2's comparator blended free memory and domain counts instead; not
modelled). libxl also adds the domain's overhead (libxl_domain_need_memory) to the
memory it needs; we use the VM's memory alone, as every policy here does.

Candidate score: the vCPUs already able to run on the set (lower is better).
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import combinations

from numaplane.common.units import format_size
from numaplane.controller.policy.placement.considered import ConsideredLog
from numaplane.controller.policy.placement.cpu_choice import all_cpus, cpus_of_nodes
from numaplane.controller.policy.placement.host_state import HostState, NodeState
from numaplane.controller.policy.placement.memory_split import split_evenly
from numaplane.controller.policy.placement.toolstack_host import decision, toolstack_host
from numaplane.controller.policy.types import (
    Candidate,
    ClusterView,
    HostView,
    Placement,
    PlacementDecision,
    VmRequest,
)

NAME = "xen"
MAX_NODES = 16
"""libxl skips automatic placement on hosts with more nodes than this."""


@dataclass(frozen=True)
class LibxlCandidate:
    nodes: tuple[int, ...]
    nr_vcpus: int
    """vCPUs already able to run on these nodes."""
    free_kib: int
    nr_cpus: int

    def better_than(self, other: LibxlCandidate) -> bool:
        """numa_cmpf(self, other) < 0: fewer vCPUs, then more free memory."""
        if self.nr_vcpus != other.nr_vcpus:
            return self.nr_vcpus < other.nr_vcpus
        return self.free_kib > other.free_kib


def libxl_vcpus_on_node(host: HostView) -> dict[int, int]:
    """vCPUs per node as libxl counts them: once per node of affinity ∩ node-affinity."""
    counts: dict[int, int] = {}
    for vm in host.vms:
        nodes = set(vm.cpu_nodes)
        if vm.bound_nodes is not None:
            nodes &= set(vm.bound_nodes)
        for n in nodes:
            counts[n] = counts.get(n, 0) + vm.vcpus
    return counts


def libxl_first_size(nodes: tuple[NodeState, ...], vcpus: int) -> int:
    """Where libxl starts: ceil(vCPUs / CPUs per node) if all nodes match, else 1."""
    per_node = {n.cpu_count for n in nodes}
    if len(per_node) == 1 and (cpus := per_node.pop()) > 0:
        return max(1, -(-vcpus // cpus))
    return 1


def libxl_place(
    host: HostState, vcpus: int, memory_bytes: int, log: ConsideredLog
) -> tuple[LibxlCandidate | None, str]:
    """libxl__get_numa_candidate with numa_cmpf; the best candidate or None, and why."""
    if len(host.nodes) <= 1:
        return None, "a single-node host: libxl does not place"
    if len(host.nodes) > MAX_NODES:
        return None, f"{len(host.nodes)} nodes (> {MAX_NODES}): libxl skips placement"
    suitable = tuple(n for n in host.nodes if n.cpu_count > 0)
    on_node = libxl_vcpus_on_node(host.view)
    need_kib = memory_bytes // 1024
    first = min(libxl_first_size(host.nodes, vcpus), len(suitable))
    for size in range(first, len(suitable) + 1):
        best: LibxlCandidate | None = None
        for combo in combinations(suitable, size):
            ids = tuple(n.id for n in combo)
            free_kib = sum(n.available_bytes // 1024 for n in combo)
            cpus = sum(n.cpu_count for n in combo)
            if free_kib < need_kib:
                _reject(log, host, ids, f"{format_size(free_kib * 1024)} free", "libxl: memory")
                continue
            if cpus < vcpus:
                _reject(log, host, ids, f"{cpus} CPUs for {vcpus} vCPUs", "libxl: CPUs")
                continue
            cand = LibxlCandidate(ids, sum(on_node.get(i, 0) for i in ids), free_kib, cpus)
            log.valid((cand.nr_vcpus, -cand.free_kib), host.name, ids, float(cand.nr_vcpus))
            if best is None or cand.better_than(best):
                best = cand
        if best is not None:
            return best, (
                f"libxl candidate: {size} node(s) {_ids(best.nodes)}, {best.nr_vcpus} vCPUs "
                f"already there, {format_size(best.free_kib * 1024)} free"
            )
    return None, "no node set has enough free memory and CPUs: libxl does not place"


class XenPlacement:
    """libxl's automatic NUMA placement on the first host with room."""

    name = NAME
    uses_claims = False

    def place(self, request: VmRequest, cluster: ClusterView) -> PlacementDecision:
        log = ConsideredLog()
        start = toolstack_host(NAME, request, cluster, log, use_claims=self.uses_claims)
        if isinstance(start, PlacementDecision):
            return start
        host, target, chosen = start.host, start.target_bytes, start.reason
        best, why = libxl_place(host, request.vcpus, target, log)
        if best is None:
            unplaced = Placement(
                host=host.name,
                nodes=host.view.topology.node_ids,
                memory_by_node={},
                cpus=all_cpus(host),
                bind_memory=False,
            )
            return decision(NAME, request, unplaced, (chosen, why, "affinity to all nodes"), log)
        available = {n.id: n.available_bytes for n in host.nodes}
        room = sum(available[n] for n in best.nodes)  # libxl compared KiB; bytes may be short
        split = split_evenly(min(target, room), best.nodes, available) or {}
        placement = Placement(
            host=host.name,
            nodes=best.nodes,
            memory_by_node=split,
            cpus=cpus_of_nodes(host, best.nodes),
            bind_memory=False,
        )
        return decision(
            NAME,
            request,
            placement,
            (chosen, why, "node-affinity and vCPU soft affinity; memory may spill"),
            log,
        )


def _reject(
    log: ConsideredLog, host: HostState, nodes: tuple[int, ...], text: str, kind: str
) -> None:
    log.rejected(Candidate(host=host.name, nodes=nodes, rejected=text), kind)


def _ids(nodes: tuple[int, ...]) -> str:
    return ",".join(str(n) for n in nodes)
