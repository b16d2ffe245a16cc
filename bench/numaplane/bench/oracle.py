"""The oracle: the best value any placement could reach on a scenario's headline metrics.

Reports say "x % of the optimum", so each value says whether it *is* the optimum
(`exact`) or a proven ceiling (`bound`). All values assume every requested VM is placed
when the cluster can hold it (most memory placed first): a policy that rejects VMs it
could have placed may score above the oracle on the ratios, and that is by design — the
oracle does not reward turning work away.

Metrics, as `numaplane.bench.metrics` defines them, and how each is bounded:

- `mean_node_set_locality` (memory on the nodes where the vCPUs run): a VM with c vCPUs whose
  memory sits on at most c nodes, its vCPUs bound one or more to each, scores 1.0; a
  VM spread over more nodes than it has vCPUs cannot (each vCPU runs on one node). So
  1.0 is `exact` when every VM fits on at most as many nodes as it has vCPUs of some
  host — reached by a policy that knows the future, which places each VM on such nodes
  or waits (or declines) until they are free; an online policy may have to spread a VM
  because it cannot know which neighbours leave. Otherwise 1.0 is only a `bound`.
- `mean_locality` (per vCPU: share of the memory on the vCPU's own node, the product's
  locality; also under its older name `mean_access_locality`): a VM's best is
  all its vCPUs on the node with most of its memory, i.e. (memory on its home node) /
  (its memory). Jointly, with node capacities, that is a mixed-integer program (below),
  solved with scipy's HiGHS (`scipy.optimize.milp`): `exact` for a scenario whose set of
  resident VMs never changes and is small enough; otherwise the per-tick optimum is
  averaged over ticks — a `bound`, since reaching it would need free migration at every
  change — and for large instances each VM is credited with what it would get alone on an
  empty host (`bound`).
- `mean_vm_throughput` / `p5_vm_throughput` (`numaplane.bench.model`): a vCPU never runs faster than
  a whole CPU with all-local, uncontended memory (throughput <= its CPU share), and the
  runnable vCPUs of the cluster share its CPUs. The largest mean (or 5th percentile) of
  per-VM throughputs under that capacity is a fractional knapsack — a `bound` that ignores
  bandwidth contention, remote latency, swapping and how CPUs split into hosts. The p5
  bound is given for scenarios whose resident VMs never change.

The access-locality program, per VM v of memory M_v, host h and node n (free F_hn):
  z_vh in {0,1} (v on h), w_vhn in {0,1} (v's home node, a node with CPUs),
  y_vhn >= 0 (memory of v on n), u_vhn >= 0 (memory of v on its home node);
  sum_h z_vh <= 1;  sum_n w_vhn = z_vh;  sum_n y_vhn = M_v z_vh;  sum_v y_vhn <= F_hn;
  u_vhn <= y_vhn;  u_vhn <= M_v w_vhn;  and z_vh = 0 where h has fewer CPUs than v vCPUs.
  maximize  BIG * sum M_v z_vh + sum u_vhn  (BIG makes placed memory come first).

`oracle_metrics(scenario)` is the harness's entry point; `access_locality_oracle`,
`throughput_bounds` and `min_bytes_to_move` take plain inputs. Memory is counted at the
VM's target (its limit, else its size), the most it is given, where the harness weighs by
resident memory — one more reason the dynamic values are bounds.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from numaplane.bench.events import CreateVms, DeleteVm
from numaplane.bench.scenario import Scenario
from numaplane.bench.timeline import timeline
from numaplane.common.topology import Topology
from numaplane.controller.policy.placement.demand import MemoryDemand
from numaplane.controller.policy.types import VmView

Kind = Literal["exact", "bound"]

EXACT_VARIABLE_LIMIT = 4000
"""Largest access-locality program solved exactly (variables); larger ones are bounded."""
EXACT_EPOCH_LIMIT = 12
"""Most distinct resident sets whose programs are solved before falling back to bounds."""
SOLVER_TIME_LIMIT_S = 20.0


@dataclass(frozen=True)
class OracleVm:
    """What the oracle needs of a VM."""

    name: str
    vcpus: int
    memory_bytes: int
    """Its target memory (limit, else size)."""
    cpu_utilization: float = 1.0


@dataclass(frozen=True)
class OracleValue:
    value: float
    kind: Kind
    method: str


# -- access locality --------------------------------------------------------------------


def alone_access_locality(vm: OracleVm, hosts: Sequence[Topology]) -> float:
    """The best access locality of `vm` on an empty host (its home node as big as any)."""
    best = 0
    for topo in hosts:
        if topo.cpu_count < vm.vcpus:
            continue
        for node in topo.nodes:
            if node.cpus:
                best = max(best, min(vm.memory_bytes, node.memory_total_bytes))
    return best / vm.memory_bytes if vm.memory_bytes > 0 else 1.0


def access_locality_oracle(hosts: Sequence[Topology], vms: Sequence[OracleVm]) -> OracleValue:
    """Best memory-weighted access locality of `vms` placed together on `hosts`' free memory."""
    vms = [v for v in vms if v.memory_bytes > 0]
    if not vms:
        return OracleValue(1.0, "exact", "no VM memory")
    solved = _solve_access_milp(hosts, vms)
    if solved is not None:
        return solved
    alone = {v.name: alone_access_locality(v, hosts) for v in vms}
    return _alone_bound(alone, vms)


def _solve_access_milp(hosts: Sequence[Topology], vms: Sequence[OracleVm]) -> OracleValue | None:
    """The program of the module docstring; None when too large to solve here."""
    unit = max(v.memory_bytes for v in vms)  # scale memory to O(1) numbers
    size = {v.name: v.memory_bytes / unit for v in vms}
    cols: list[tuple[str, ...]] = []
    index: dict[tuple[Any, ...], int] = {}

    def var(*key: Any) -> int:
        index[key] = len(cols)
        cols.append(tuple(str(k) for k in key))
        return index[key]

    pairs = [(v, hi) for v in vms for hi, topo in enumerate(hosts) if topo.cpu_count >= v.vcpus]
    for v, hi in pairs:
        var("z", v.name, hi)
        for node in hosts[hi].nodes:
            var("y", v.name, hi, node.id)
            if node.cpus:
                var("w", v.name, hi, node.id)
                var("u", v.name, hi, node.id)
    n = len(cols)
    if n == 0:
        return OracleValue(1.0, "exact", "no VM fits any host's CPUs")
    if n > EXACT_VARIABLE_LIMIT:
        return None
    rows: list[tuple[dict[int, float], float, float]] = []
    for v in vms:
        zs = {index[("z", v.name, hi)]: 1.0 for w, hi in pairs if w is v}
        if zs:
            rows.append((zs, -np.inf, 1.0))
    for v, hi in pairs:
        z = index[("z", v.name, hi)]
        nodes = hosts[hi].nodes
        home = {index[("w", v.name, hi, nd.id)]: 1.0 for nd in nodes if nd.cpus}
        rows.append(({**home, z: -1.0}, 0.0, 0.0))
        mem = {index[("y", v.name, hi, nd.id)]: 1.0 for nd in nodes}
        rows.append(({**mem, z: -size[v.name]}, 0.0, 0.0))
        for nd in nodes:
            if nd.cpus:
                u = index[("u", v.name, hi, nd.id)]
                y = index[("y", v.name, hi, nd.id)]
                w = index[("w", v.name, hi, nd.id)]
                rows.append(({u: 1.0, y: -1.0}, -np.inf, 0.0))
                rows.append(({u: 1.0, w: -size[v.name]}, -np.inf, 0.0))
    for hi, topo in enumerate(hosts):
        for nd in topo.nodes:
            ys = {index[key]: 1.0 for v in vms if (key := ("y", v.name, hi, nd.id)) in index}
            if ys:
                rows.append((ys, -np.inf, nd.memory_free_bytes / unit))
    total = sum(size.values())
    big = total / min(size.values()) + 1.0
    c = np.zeros(n)
    integrality = np.zeros(n)
    for key, i in index.items():
        if key[0] == "z":
            c[i] = -big * size[key[1]]
            integrality[i] = 1
        elif key[0] == "w":
            integrality[i] = 1
        elif key[0] == "u":
            c[i] = -1.0
    upper = np.full(n, np.inf)
    for key, i in index.items():
        if key[0] in ("z", "w"):
            upper[i] = 1.0
    row_ids, col_ids, coefs_ = [], [], []
    lo, hi_ = np.zeros(len(rows)), np.zeros(len(rows))
    for r, (coefs, low, high) in enumerate(rows):
        for i, coef in coefs.items():
            row_ids.append(r)
            col_ids.append(i)
            coefs_.append(coef)
        lo[r], hi_[r] = low, high
    a = coo_array((coefs_, (row_ids, col_ids)), shape=(len(rows), n)).tocsr()
    res = milp(
        c,
        constraints=LinearConstraint(a, lo, hi_),
        integrality=integrality,
        bounds=Bounds(np.zeros(n), upper),
        options={"time_limit": SOLVER_TIME_LIMIT_S},
    )
    if res.x is None:
        return None
    x = res.x
    placed = sum(size[k[1]] * x[i] for k, i in index.items() if k[0] == "z")
    local = sum(x[i] for k, i in index.items() if k[0] == "u")
    if placed <= 1e-9:
        return OracleValue(1.0, "exact", "no VM can be placed")
    value = min(1.0, local / placed)
    if res.status == 0:
        return OracleValue(value, "exact", "mixed-integer program (HiGHS), solved to optimality")
    # Time limit: the dual bound caps the objective; at the placed memory found, it caps
    # the local memory (a looser but proven ceiling).
    bound_local = (-float(res.mip_dual_bound)) - big * placed
    return OracleValue(
        min(1.0, max(value, bound_local / placed)), "bound", "mixed-integer program, time limit"
    )


# -- throughput ---------------------------------------------------------------------------


def throughput_bounds(cpus: int, vms: Sequence[OracleVm]) -> tuple[float, float]:
    """Ceilings on (mean, 5th percentile) of per-VM throughput when `vms` share `cpus`.

    VM v's throughput t_v is at most the mean CPU share of its vCPUs, and its runnable
    vCPUs (vcpus x utilization = w_v) hold at most w_v t_v of the CPUs. Mean: maximize
    sum t_v with sum w_v t_v <= cpus, t_v <= 1 — fill the lightest VMs first. p5 (linear
    interpolation at rank r = 0.05 (N - 1)): it is at most the value of the order
    statistic ceil(r), which needs N - ceil(r) VMs at or above it: the lightest ones.
    """
    if not vms:
        return 1.0, 1.0
    weights = sorted(max(v.vcpus * v.cpu_utilization, 1e-9) for v in vms)
    left, total = float(cpus), 0.0
    for w in weights:
        take = min(1.0, left / w)
        total += take
        left -= take * w
        if left <= 0:
            break
    n = len(weights)
    above = n - math.ceil(0.05 * (n - 1) - 1e-12)
    p5 = min(1.0, cpus / sum(weights[:above]))
    return total / n, p5


# -- the harness's entry point ------------------------------------------------------------


def resident_sets(scenario: Scenario, seed: int | None = None) -> list[tuple[frozenset[str], int]]:
    """The set of VMs resident at each sampled tick, run-length encoded: (set, ticks).

    Mirrors `numaplane.bench.runner`: tick k applies the events before (k + 1) x tick_s and is then
    sampled; every requested VM is taken to be placed.
    """
    events = timeline(scenario.events, scenario.seed if seed is None else seed, scenario.duration_s)
    ticks = max(1, math.ceil(scenario.duration_s / scenario.tick_s - 1e-9))
    resident: set[str] = set()
    out: list[tuple[frozenset[str], int]] = []
    e = 0
    for k in range(ticks):
        while e < len(events) and events[e].at < (k + 1) * scenario.tick_s:
            event = events[e]
            if isinstance(event, CreateVms):
                resident.update(spec.request.name for spec in event.vms)
            elif isinstance(event, DeleteVm):
                resident.discard(event.vm)
            e += 1
        current = frozenset(resident)
        if out and out[-1][0] == current:
            out[-1] = (current, out[-1][1] + 1)
        else:
            out.append((current, 1))
    return out


def scenario_vms(scenario: Scenario, seed: int | None = None) -> dict[str, OracleVm]:
    events = timeline(scenario.events, scenario.seed if seed is None else seed, scenario.duration_s)
    out: dict[str, OracleVm] = {}
    for event in events:
        if isinstance(event, CreateVms):
            for spec in event.vms:
                r = spec.request
                out[r.name] = OracleVm(
                    name=r.name,
                    vcpus=r.vcpus,
                    memory_bytes=MemoryDemand.of(r).target_bytes,
                    cpu_utilization=spec.workload.cpu_utilization,
                )
    return out


def oracle_metrics(scenario: Scenario, seed: int | None = None) -> dict[str, Any] | None:
    """The oracle's headline metrics for a scenario (see the module docstring), or None.

    Keys: the metric names of `RunResult.headline()` that the oracle defines, each a
    float; `kind` (metric -> "exact" or "bound") and `method` (metric -> how).
    """
    hosts = [spec.topology() for spec in scenario.hosts]
    vms = scenario_vms(scenario, seed)
    epochs = [(s, n) for s, n in resident_sets(scenario, seed) if s]
    if not epochs:
        return None
    cpus = sum(t.cpu_count for t in hosts)
    values: dict[str, OracleValue] = {}
    if len(epochs) <= EXACT_EPOCH_LIMIT:
        values["mean_locality"] = _over_ticks(
            epochs, lambda s: access_locality_oracle(hosts, [vms[v] for v in sorted(s)])
        )
    else:
        alone = {name: alone_access_locality(vm, hosts) for name, vm in vms.items()}
        values["mean_locality"] = _over_ticks(
            epochs, lambda s: _alone_bound(alone, [vms[v] for v in s])
        )
    values["mean_access_locality"] = values["mean_locality"]
    values["mean_node_set_locality"] = _locality_value(hosts, vms.values())
    values["mean_vm_throughput"] = _mean_throughput_bound(epochs, vms, cpus)
    if len(epochs) == 1:
        _, p5 = throughput_bounds(cpus, [vms[v] for v in epochs[0][0]])
        values["p5_vm_throughput"] = OracleValue(p5, "bound", "CPU capacity (knapsack)")
    out: dict[str, Any] = {name: round(v.value, 6) for name, v in values.items()}
    out["kind"] = {name: v.kind for name, v in values.items()}
    out["method"] = {name: v.method for name, v in values.items()}
    return out


def _locality_value(hosts: Sequence[Topology], vms: Iterable[OracleVm]) -> OracleValue:
    """1.0: exact when every VM fits, on some host, on at most as many nodes as it has
    vCPUs (its largest nodes), else a bound (see the module docstring)."""

    def fits(vm: OracleVm) -> bool:
        for topo in hosts:
            sizes = sorted((n.memory_total_bytes for n in topo.nodes), reverse=True)
            if sum(sizes[: max(1, vm.vcpus)]) >= vm.memory_bytes:
                return True
        return False

    if all(fits(vm) for vm in vms):
        return OracleValue(1.0, "exact", "every VM on at most its vCPUs' worth of nodes")
    return OracleValue(1.0, "bound", "some VM needs more nodes than it has vCPUs")


def _alone_bound(alone: Mapping[str, float], vms: Sequence[OracleVm]) -> OracleValue:
    """Memory-weighted mean of each VM's best alone (`alone_access_locality`, precomputed)."""
    weights = sum(v.memory_bytes for v in vms)
    if weights <= 0:
        return OracleValue(1.0, "exact", "no VM memory")
    value = sum(alone[v.name] * v.memory_bytes for v in vms) / weights
    return OracleValue(value, "bound", "each VM as local as it could be alone")


def _over_ticks(
    epochs: Sequence[tuple[frozenset[str], int]], solve: Callable[[frozenset[str]], OracleValue]
) -> OracleValue:
    """Tick-weighted mean of per-epoch values: exact only for one epoch solved exactly."""
    results = [(solve(s), n) for s, n in epochs]
    ticks = sum(n for _, n in results)
    value = sum(r.value * n for r, n in results) / ticks
    if len(results) == 1:
        return results[0][0]
    return OracleValue(value, "bound", f"per-tick optimum ({results[0][0].method}), averaged")


def _mean_throughput_bound(
    epochs: Sequence[tuple[frozenset[str], int]], vms: Mapping[str, OracleVm], cpus: int
) -> OracleValue:
    """The harness averages a VM over its ticks, then over VMs: bound each tick's share.

    Per tick the objective sum_v t_v / (N T_v) (T_v: ticks v is resident) is a fractional
    knapsack over the CPUs, filled by value per runnable vCPU.
    """
    ticks_of: dict[str, int] = {}
    for s, n in epochs:
        for v in s:
            ticks_of[v] = ticks_of.get(v, 0) + n
    count = len(ticks_of)
    total = 0.0
    for s, n in epochs:
        items = sorted(
            (
                (1.0 / (count * ticks_of[v]), max(vms[v].vcpus * vms[v].cpu_utilization, 1e-9))
                for v in s
            ),
            key=lambda t: -t[0] / t[1],
        )
        left, gained = float(cpus), 0.0
        for value, weight in items:
            take = min(1.0, left / weight)
            gained += take * value
            left -= take * weight
            if left <= 0:
                break
        total += gained * n
    kind: Kind = "bound"
    return OracleValue(min(1.0, total), kind, "CPU capacity (knapsack), per tick")


# -- rebalancing ----------------------------------------------------------------------------


def min_bytes_to_move(
    vms: Sequence[VmView],
    target: float,
    *,
    metric: Literal["locality", "access"] = "locality",
    vcpus_may_move: bool = False,
) -> int:
    """A lower bound on the bytes of memory that must move to reach `target` locality.

    Moving a byte raises the memory-weighted sum of local memory by at most one byte, so
    at least (target x total memory - local memory reachable without moving any) bytes
    must move. Without moves a VM keeps its local memory, or — if its vCPUs may be
    re-bound — gets all of it (`locality`: bind the vCPUs to every node holding it) or the
    share on its fullest node (`access`: all vCPUs there).
    """
    total = sum(sum(vm.memory_by_node.values()) for vm in vms)
    if total <= 0:
        return 0
    reachable = 0
    for vm in vms:
        mem = vm.memory_by_node
        if vcpus_may_move:
            reachable += sum(mem.values()) if metric == "locality" else max(mem.values(), default=0)
        elif metric == "locality":
            reachable += sum(b for n, b in mem.items() if n in vm.running_nodes)
        else:
            vcpus = max(1, len(vm.running_nodes))
            reachable += int(sum(mem.get(n, 0) for n in vm.running_nodes) / vcpus)
    return max(0, math.ceil(target * total - reachable - 1e-6))
