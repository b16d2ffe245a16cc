"""Small real topologies, hosts and VMs for the placement, rebalancer and oracle tests
(no mocks).

Shapes used by the worked examples:
- `two_nodes`: the Xen kernbench host, 2 nodes at distance 21.
- `snc4`: two sockets with sub-NUMA clustering, 2 nodes each: 10 local, 11 to the sibling
  on the same socket, 21 across sockets.
- `epyc8`: two EPYC sockets in NPS4, 4 nodes each: 10 local, 12 within a socket, 32 across.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from numaplane.common.topology import NumaNode, Topology
from numaplane.common.units import GiB
from numaplane.controller.policy.types import ClusterView, HostView, VmRequest, VmView


def topology(
    cpus: Sequence[int],
    memory_gib: Sequence[float],
    distances: Sequence[Sequence[int]],
    *,
    free_gib: Sequence[float] | None = None,
) -> Topology:
    """Nodes 0..n-1 with the given CPU counts (CPU ids consecutive) and memory."""
    nodes = []
    first = 0
    for i, (count, mem) in enumerate(zip(cpus, memory_gib, strict=True)):
        free = mem if free_gib is None else free_gib[i]
        nodes.append(
            NumaNode(
                id=i,
                cpus=tuple(range(first, first + count)),
                memory_total_bytes=int(mem * GiB),
                memory_free_bytes=int(free * GiB),
            )
        )
        first += count
    return Topology(nodes=tuple(nodes), distances=tuple(tuple(r) for r in distances))


def socket_distances(sockets: int, per_socket: int, near: int, far: int) -> list[list[int]]:
    n = sockets * per_socket
    return [
        [10 if a == b else (near if a // per_socket == b // per_socket else far) for b in range(n)]
        for a in range(n)
    ]


def two_nodes(
    cpus: int = 8, memory_gib: float = 6, free_gib: Sequence[float] | None = None
) -> Topology:
    return topology([cpus] * 2, [memory_gib] * 2, [[10, 21], [21, 10]], free_gib=free_gib)


def snc4(free_gib: Sequence[float] | None = None, memory_gib: float = 16) -> Topology:
    return topology([8] * 4, [memory_gib] * 4, socket_distances(2, 2, 11, 21), free_gib=free_gib)


def epyc8(free_gib: Sequence[float] | None = None, memory_gib: float = 16) -> Topology:
    return topology([8] * 8, [memory_gib] * 8, socket_distances(2, 4, 12, 32), free_gib=free_gib)


def vm(
    name: str,
    host: str,
    *,
    vcpus: int,
    memory_by_node: Mapping[int, float],
    cpu_nodes: Sequence[int],
    group: str | None = None,
    bound: bool = True,
) -> VmView:
    """A running VM; memory in GiB per node; bound to `cpu_nodes` unless `bound=False`."""
    by_node = {n: int(g * GiB) for n, g in memory_by_node.items()}
    return VmView(
        name=name,
        host=host,
        vcpus=vcpus,
        memory_bytes=sum(by_node.values()),
        memory_by_node=by_node,
        cpu_nodes=frozenset(cpu_nodes),
        running_nodes=frozenset(cpu_nodes),
        group=group,
        bound_nodes=tuple(sorted(cpu_nodes)) if bound else None,
    )


def host(
    name: str,
    topo: Topology,
    *,
    vms: Sequence[VmView] = (),
    schedulable: bool = True,
    state: str = "up",
    claims_gib: Mapping[int, float] | None = None,
) -> HostView:
    claims = {n: int(g * GiB) for n, g in (claims_gib or {}).items()}
    return HostView(
        name=name,
        topology=topo,
        schedulable=schedulable,
        state=state,
        vms=tuple(vms),
        claimed_by_node=claims,
    )


def cluster(
    *hosts: HostView, now: float = 0.0, last_moved: Mapping[str, float] | None = None
) -> ClusterView:
    return ClusterView(hosts=tuple(hosts), now=now, last_moved=dict(last_moved or {}))


def request(name: str = "new", *, vcpus: int = 4, memory_gib: float = 1, **kw: object) -> VmRequest:
    return VmRequest(name=name, vcpus=vcpus, memory_bytes=int(memory_gib * GiB), **kw)  # type: ignore[arg-type]
