"""Decision time of a placement policy: how long one `place(request, cluster)` takes.

The decision-time targets, measured here (a benchmark, not a test: it times this machine):

* `cluster-1000`: one VM on a 1,000-host cluster of 2-8-node hosts, already partly
  used — p99 under 50 ms;
* `span-8-of-16`: one VM that needs 8 nodes of a 16-node host — under 10 ms (Nova's
  NUMA fitting took about 6 minutes for this shape before its fix, about 3 s after).

The clusters are built once per case (seeded, so every run decides the same requests)
as the `ClusterView` the reconciler would read; only `place()` is timed, one request at
a time, after one untimed warm-up call (imports, caches) and with a garbage collection
before each call (untimed), so that one call does not pay for the garbage of the ones
before it. Two clocks: wall time (`perf_counter_ns`: what a request waits) and the
thread's CPU time (`thread_time_ns`: the decision's own cost, which other processes on
a busy machine cannot inflate). The targets are about wall time; on a shared machine
compare the CPU-time column too. Requests vary in size so that one lucky shape does not
decide the figure.

Hosts of the large cluster: 2, 4 or 8 nodes of 8-16 CPUs and 64-256 GiB each, with
realistic distance matrices (two sockets; sub-NUMA clusters within a socket), each
running a few VMs that leave 10-90 % of every node free. The 16-node host is four
sockets of four sub-NUMA nodes (10 local, 12 within a socket, 32 across), idle, and the
request is 7.5 nodes' worth of memory, so no 7-node set holds it.
"""

from __future__ import annotations

import gc
import os
import platform
import random
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from rich.table import Table

from numaplane.bench.policies import create_policy
from numaplane.common.topology import NumaNode, Topology
from numaplane.common.units import GiB
from numaplane.controller.policy.types import ClusterView, HostView, VmRequest, VmView


@dataclass(frozen=True)
class Case:
    name: str
    description: str
    target_p99_ms: float
    cluster: ClusterView
    requests: tuple[VmRequest, ...]


@dataclass(frozen=True)
class Timing:
    case: str
    policy: str
    samples: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    cpu_p50_ms: float
    cpu_p99_ms: float
    """The same percentiles of the thread's CPU time per decision."""
    target_p99_ms: float
    placed: int
    """Requests the policy found a place for (a fast "no" would be no achievement)."""

    @property
    def met(self) -> bool:
        return self.p99_ms < self.target_p99_ms


def distances(sockets: int, per_socket: int, near: int = 12, far: int = 32) -> tuple[
    tuple[int, ...], ...
]:
    """SLIT of `sockets` sockets of `per_socket` nodes: 10 local, `near` within a socket,
    `far` across sockets (21 for a plain 2-socket host of one node each)."""
    n = sockets * per_socket
    return tuple(
        tuple(
            10 if i == j else (near if i // per_socket == j // per_socket else far)
            for j in range(n)
        )
        for i in range(n)
    )


def _host(rng: random.Random, name: str, nodes: int, cpus: int, memory: int) -> HostView:
    """A host whose nodes are partly used by a few running VMs."""
    per_socket = max(1, nodes // 2)
    matrix = distances(2, per_socket, near=11) if nodes > 2 else ((10, 21), (21, 10))
    free: list[int] = []
    vms: list[VmView] = []
    for node in range(nodes):
        used_share = rng.uniform(0.1, 0.9)
        used = int(memory * used_share) // GiB * GiB
        free.append(memory - used)
        if used:
            vms.append(
                VmView(
                    name=f"{name}-vm{node}",
                    host=name,
                    vcpus=rng.choice((2, 4, 8)),
                    memory_bytes=used,
                    memory_by_node={node: used},
                    cpu_nodes=frozenset({node}),
                    running_nodes=frozenset({node}),
                    bound_nodes=(node,),
                )
            )
    topology = Topology(
        nodes=tuple(
            NumaNode(
                id=i,
                cpus=tuple(range(i * cpus, (i + 1) * cpus)),
                memory_total_bytes=memory,
                memory_free_bytes=free[i],
            )
            for i in range(nodes)
        ),
        distances=matrix,
    )
    return HostView(name=name, topology=topology, vms=tuple(vms))


def cluster_1000(seed: int, requests: int) -> Case:
    rng = random.Random(seed)
    hosts = tuple(
        _host(
            rng,
            f"hv-{i:04d}",
            rng.choice((2, 4, 8)),
            rng.choice((8, 12, 16)),
            rng.choice((64, 128, 256)) * GiB,
        )
        for i in range(1000)
    )
    sizes = (2, 4, 8, 16, 32, 64, 96)
    reqs = tuple(
        VmRequest(name=f"req-{i}", vcpus=rng.choice((1, 2, 4, 8)), memory_bytes=s * GiB)
        for i, s in enumerate(rng.choice(sizes) for _ in range(requests))
    )
    return Case(
        name="cluster-1000",
        description="one VM on 1,000 hosts of 2-8 nodes",
        target_p99_ms=50.0,
        cluster=ClusterView(hosts=hosts),
        requests=reqs,
    )


def span_8_of_16(seed: int, requests: int) -> Case:
    rng = random.Random(seed)
    node_memory = 64 * GiB
    cpus = 8
    topology = Topology(
        nodes=tuple(
            NumaNode(i, tuple(range(i * cpus, (i + 1) * cpus)), node_memory, node_memory)
            for i in range(16)
        ),
        distances=distances(4, 4),
    )
    host = HostView(name="big-16", topology=topology)
    reqs = tuple(
        VmRequest(
            name=f"span-{i}",
            vcpus=rng.choice((8, 16, 32)),
            memory_bytes=int(7.5 * node_memory) - rng.randrange(0, 4) * GiB,
        )
        for i in range(requests)
    )
    return Case(
        name="span-8-of-16",
        description="one VM spanning 8 nodes of a 16-node host",
        target_p99_ms=10.0,
        cluster=ClusterView(hosts=(host,)),
        requests=reqs,
    )


CASES: dict[str, Callable[[int, int], Case]] = {
    "cluster-1000": cluster_1000,
    "span-8-of-16": span_8_of_16,
}


def time_policy(case: Case, policy_name: str) -> Timing:
    policy = create_policy(policy_name)
    policy.place(case.requests[0], case.cluster)  # warm-up, untimed
    samples: list[float] = []
    cpu: list[float] = []
    placed = 0
    for request in case.requests:
        gc.collect()
        start, start_cpu = time.perf_counter_ns(), time.thread_time_ns()
        decision = policy.place(request, case.cluster)
        cpu.append((time.thread_time_ns() - start_cpu) / 1e6)
        samples.append((time.perf_counter_ns() - start) / 1e6)
        placed += decision.placement is not None
    return Timing(
        case=case.name,
        policy=policy_name,
        samples=len(samples),
        p50_ms=statistics.median(samples),
        p99_ms=_percentile(samples, 0.99),
        max_ms=max(samples),
        cpu_p50_ms=statistics.median(cpu),
        cpu_p99_ms=_percentile(cpu, 0.99),
        target_p99_ms=case.target_p99_ms,
        placed=placed,
    )


def _percentile(samples: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (the value at or below which q of the samples fall)."""
    ordered = sorted(samples)
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def run(
    policies: Sequence[str], *, requests: int = 200, seed: int = 1, cases: Sequence[str] = ()
) -> list[Timing]:
    out: list[Timing] = []
    for name in cases or tuple(CASES):
        case = CASES[name](seed, requests)
        out.extend(time_policy(case, p) for p in policies)
    return out


def cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux), else what platform knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> str:
    return f"{cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def table(timings: Sequence[Timing]) -> Table:
    """One row per case and policy, the machine in the title."""
    out = Table(title=f"placement decision time on {machine()}", title_justify="left")
    for column in ("case", "policy", "requests", "placed", "p50 ms", "p99 ms", "max ms",
                   "cpu p50 ms", "cpu p99 ms", "target p99", "met"):
        out.add_column(column, justify="left" if column in ("case", "policy") else "right")
    for t in timings:
        out.add_row(
            t.case,
            t.policy,
            str(t.samples),
            str(t.placed),
            f"{t.p50_ms:.2f}",
            f"{t.p99_ms:.2f}",
            f"{t.max_ms:.2f}",
            f"{t.cpu_p50_ms:.2f}",
            f"{t.cpu_p99_ms:.2f}",
            f"< {t.target_p99_ms:g} ms",
            "yes" if t.met else "NO",
        )
    return out


def record(t: Timing) -> dict[str, object]:
    return {**asdict(t), "met": t.met, "machine": machine()}
