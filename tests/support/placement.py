"""Helpers for placement tests: empty sim hosts, an admin stub, and the no-overfill checks.

The checks read what the placement loop reads (one snapshot of etcd) and what the hosts
really hold (the SimHosts themselves), so a test can assert placement's invariants (no node
overfilled, no VM placed twice) at any moment, not only at the end:

* no node has more claimed-plus-used memory than it holds — from etcd (claims still in
  flight never exceed the free memory the host last reported) and from the hosts (what a
  node backs plus what is claimed on it for VMs it does not run yet fits in the node);
* nothing is half-placed — a claim always has a `starting`/`stopping` placement on the
  same host, a `starting` placement always has its claim, a `running` VM is observed, a
  `pending` one holds no claim and says why.
"""

from __future__ import annotations

from collections.abc import Mapping

import grpc

from numaplane.common.units import GiB
from numaplane.controller.state.snapshot import ClusterSnapshot, read_snapshot
from numaplane.controller.state.views import build_view, claimed_total
from numaplane.controller.store import ClusterStore
from numaplane.hostagent.drivers.sim import SimBackend, SimHost, SimHostSpec, SimNodeSpec
from numaplane.v1 import admin_pb2, admin_pb2_grpc


def small_host(name: str, *, nodes: int = 2, cpus: int = 4, memory: int = 4 * GiB) -> SimHost:
    """An empty simulated host: `nodes` nodes of `cpus` CPUs and `memory` bytes each."""
    distances = tuple(tuple(10 if i == j else 21 for j in range(nodes)) for i in range(nodes))
    spec = SimHostSpec(
        name=name,
        nodes=tuple(SimNodeSpec(cpus=cpus, memory_bytes=memory) for _ in range(nodes)),
        distances=distances,
    )
    return SimHost(spec, seed=1)


class Admin:
    """The admin API over a real grpc.aio channel."""

    def __init__(self, address: str) -> None:
        self.channel = grpc.aio.insecure_channel(address)
        self.stub = admin_pb2_grpc.AdminStub(self.channel)

    async def close(self) -> None:
        await self.channel.close()

    async def create(self, request: admin_pb2.CreateVmRequest) -> str:
        """"" on success, else the gRPC status name and message."""
        try:
            await self.stub.CreateVm(request)
        except grpc.aio.AioRpcError as e:
            return f"{e.code().name}: {e.details()}"
        return ""


def _running_and_free(host: SimHost) -> tuple[set[str], dict[int, int]]:
    return {vm.name for vm in host.vms() if vm.state == "running"}, host.free_by_node()


def overfill(snapshot: ClusterSnapshot, sims: Mapping[str, SimBackend]) -> list[str]:
    """Every node with more claimed-plus-used memory than it holds (empty = none)."""
    problems: list[str] = []
    view = build_view(snapshot)
    for host in view.hosts:
        for node in host.topology.nodes:
            if host.available_bytes(node.id) < 0:
                problems.append(
                    f"etcd: {host.name} node {node.id}: {host.claimed_by_node.get(node.id)} "
                    f"claimed in flight, {node.memory_free_bytes} free"
                )
    for name, sim in sims.items():
        running, free = sim.with_host(_running_and_free)  # under the backend's lock
        waiting: dict[int, int] = {}
        for (claim_host, vm), claim in snapshot.claims.items():
            if claim_host != name or vm in running:
                continue
            for nm in claim.value.memory_by_node:
                waiting[nm.node] = waiting.get(nm.node, 0) + nm.bytes
        for node_id, claimed in waiting.items():
            if claimed > free[node_id]:
                problems.append(
                    f"sim: {name} node {node_id}: {claimed} claimed for VMs not started, "
                    f"{free[node_id]} free"
                )
    return problems


def half_placed(snapshot: ClusterSnapshot) -> list[str]:
    """Every record that breaks the claim/placement pairing (empty = none)."""
    problems: list[str] = []
    for (host, vm), claim in snapshot.claims.items():
        record = snapshot.vms.get(vm)
        p = record.placement.value if record is not None and record.placement else None
        if p is None or p.state not in ("starting", "stopping") or p.host != host:
            problems.append(f"claim {host}/{vm} without a starting placement there")
        if claimed_total(claim.value) <= 0:
            problems.append(f"claim {host}/{vm} claims nothing")
    for name, record in snapshot.vms.items():
        p = record.placement.value if record.placement is not None else None
        if p is None:
            continue
        has_claim = (p.host, name) in snapshot.claims
        if p.state == "starting" and not has_claim:
            problems.append(f"{name} starting on {p.host} without a claim")
        if p.state == "running":
            status = record.status.value if record.status is not None else None
            if status is None or status.host != p.host:
                problems.append(f"{name} running on {p.host} but not observed there")
        if p.state == "pending":
            if any(v == name for _, v in snapshot.claims):
                problems.append(f"{name} pending but holds a claim")
            if not p.reason:
                problems.append(f"{name} pending without a reason")
    return problems


async def check(store: ClusterStore, sims: Mapping[str, SimBackend]) -> ClusterSnapshot:
    """Read a snapshot and assert both invariants on it."""
    snapshot = await read_snapshot(store)
    problems = overfill(snapshot, sims) + half_placed(snapshot)
    assert not problems, "\n".join(problems)
    return snapshot


def states(snapshot: ClusterSnapshot) -> dict[str, str]:
    """VM name -> placement state ("" when not yet considered)."""
    return {
        name: (vm.placement.value.state if vm.placement is not None else "")
        for name, vm in snapshot.vms.items()
        if vm.spec is not None
    }
