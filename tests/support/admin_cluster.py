"""A small cluster written straight into the store, and the admin API serving it, for
integration tests of the controller parts that read it (admin API, CLI, placement, moves,
balloons).

The records are written the way the link servicer writes them
(numaplane.controller.state.codec.encode of the state.proto messages, the liveness key bound to a
real lease), so the admin servicer under test reads exactly what it reads in production.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

import grpc

from numaplane.common.units import GiB
from numaplane.controller.admin.servicer import AdminServicer
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.store import ClusterStore, Lease
from numaplane.v1 import admin_pb2_grpc
from numaplane.v1.state_pb2 import HostAlive, HostInfo, HostStatus, JournalEntry, VmStatus
from numaplane.v1.types_pb2 import (
    BalloonState,
    Capabilities,
    DistanceRow,
    NodeFree,
    NodeMemory,
    NumaNode,
    Topology,
    VmObservation,
)

NODE_MEMORY = 16 * GiB
CPUS_PER_NODE = 4


def topology(nodes: int, *, offline: Mapping[int, Sequence[int]] | None = None) -> Topology:
    """`nodes` nodes of 4 CPUs and 16 GiB, SLIT 10 local / 21 remote."""
    offline = offline or {}
    topo = Topology()
    for i in range(nodes):
        cpus = [c for c in range(i * CPUS_PER_NODE, (i + 1) * CPUS_PER_NODE)]
        off = [c for c in cpus if c in offline.get(i, ())]
        topo.nodes.append(
            NumaNode(
                id=i,
                cpus=[c for c in cpus if c not in off],
                offline_cpus=off,
                memory_total_bytes=NODE_MEMORY,
                memory_free_bytes=NODE_MEMORY,
            )
        )
        topo.distances.append(DistanceRow(distances=[10 if j == i else 21 for j in range(nodes)]))
    return topo


async def add_host(
    store: ClusterStore,
    name: str,
    topo: Topology,
    *,
    free: Mapping[int, int] | None = None,
    lease: Lease | None = None,
    vm_names: Sequence[str] = (),
) -> None:
    """Hello (info), a status report, and the liveness key when `lease` is given."""
    info = HostInfo(
        host=name,
        topology=topo,
        capabilities=Capabilities(backend="sim", command_kinds=["ping", "report-now"]),
        agent_version="0.1.0-test",
        connected_at=time.time(),
        controller_id="ctl-test",
    )
    await store.put(keyspace.host_info(name), encode(info))
    if free is not None:
        status = HostStatus(
            node_free=[NodeFree(node=n, free_bytes=b) for n, b in free.items()],
            observed_at=time.time(),
            report_sequence=1,
            vm_names=list(vm_names),
        )
        await store.put(keyspace.host_status(name), encode(status))
    if lease is not None:
        await set_alive(store, name, lease)


async def set_alive(store: ClusterStore, name: str, lease: Lease) -> None:
    alive = HostAlive(controller_id="ctl-test", since=time.time())
    await store.put(keyspace.host_alive(name), encode(alive), lease=lease)


def vm_status(
    name: str,
    host: str,
    memory_by_node: Mapping[int, int],
    *,
    running_cpus: Sequence[int] = (0,),
    locality: float = 1.0,
    balloon: tuple[int, int] | None = None,
) -> VmStatus:
    obs = VmObservation(
        id=f"sim-{name}",
        name=name,
        vcpus=len(running_cpus),
        memory_bytes=sum(memory_by_node.values()),
        memory_by_node=[NodeMemory(node=n, bytes=b) for n, b in memory_by_node.items()],
        allowed_cpus=sorted(set(running_cpus)),
        running_cpus=list(running_cpus),
        locality=locality,
        state="running",
    )
    if balloon is not None:
        obs.balloon.CopyFrom(
            BalloonState(known=True, target_bytes=balloon[0], actual_bytes=balloon[1])
        )
    return VmStatus(name=name, host=host, observed=obs, observed_at=time.time())


async def put_vm(store: ClusterStore, status: VmStatus) -> None:
    await store.put(keyspace.vm_status(status.name), encode(status))


async def put_entry(store: ClusterStore, entry: JournalEntry) -> None:
    await store.put(keyspace.command(entry.host, entry.id), encode(entry))


@dataclass
class Cluster:
    """What `build_cluster` made: hv-a is up (lease held), hv-b is down."""

    up_lease: Lease


async def build_cluster(store: ClusterStore) -> Cluster:
    """hv-a: 2 nodes, up, two VMs (one local, one split half remote);
    hv-b: 4 nodes with an offline CPU, down, one VM."""
    lease = await store.grant_lease(30)
    await add_host(
        store,
        "hv-a",
        topology(2),
        free={0: 8 * GiB, 1: 12 * GiB},
        lease=lease,
        vm_names=["web-1", "db-1"],
    )
    await put_vm(store, vm_status("web-1", "hv-a", {0: 6 * GiB}, running_cpus=[0, 1]))
    await put_vm(
        store,
        vm_status(
            "db-1",
            "hv-a",
            {0: 1 * GiB, 1: 1 * GiB},
            running_cpus=[4],
            locality=0.5,
            balloon=(2 * GiB, 2 * GiB),
        ),
    )
    await add_host(
        store, "hv-b", topology(4, offline={3: [15]}), free={0: 12 * GiB}, vm_names=["batch-1"]
    )
    await put_vm(store, vm_status("batch-1", "hv-b", {0: 4 * GiB}, running_cpus=[0]))
    return Cluster(up_lease=lease)


@dataclass
class AdminServer:
    address: str
    servicer: AdminServicer


@asynccontextmanager
async def serve_admin(store: ClusterStore) -> AsyncIterator[AdminServer]:
    """A real grpc.aio server on a free loopback port with the admin servicer."""
    servicer = AdminServicer(store)
    server = grpc.aio.server()
    admin_pb2_grpc.add_AdminServicer_to_server(servicer, server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        yield AdminServer(f"127.0.0.1:{port}", servicer)
    finally:
        await server.stop(None)


async def eventually(condition: Callable[[], bool]) -> None:
    """Wait until `condition` holds (pytest-timeout bounds the wait, not a clock here).

    For state that other tasks own (grpc's RPC tasks), which offers nothing to await.
    """
    while not condition():  # noqa: ASYNC110 - nothing to await on grpc's side
        await asyncio.sleep(0.01)
