"""The rebalancing oracle that respects room: the best locality a cluster state allows, and
the fewest bytes that reach a share of it, with every node's capacity kept.

`numaplane.bench.oracle.min_bytes_to_move` counts remote bytes as if they could always move to the
nodes where the vCPUs run, and takes 1.0 as the reachable locality. On a full host that
is wrong in both directions: the bytes cannot move there (the only repair may be a live
migration that copies the whole VM), and some locality may not be reachable at all.
This oracle asks what is possible in the state the policy sees.

State S: the `ClusterView` of the policy — hosts with their `topology` (node capacities,
CPUs, distances) and `vms`, each `VmView` with `memory_by_node` (resident bytes per node),
`running_nodes` (where its vCPUs run) and `vcpus`. Each VM v, of resident memory M_v,
chooses one option:

- **stay**: nothing moves; its memory stays where it is and its locality stays its
  current one, l_v = (memory on running_nodes) / M_v; 0 bytes.
- **home (h, N)**: a node set N of host h, its vCPUs re-pinned to N (free), all of its
  memory in N, locality 1. N is a set of the fewest nodes of h with CPUs whose
  capacities add up to M_v: every such node for a VM that fits one node; for a larger VM
  the sets grown from each node nearest-ring first (`node_sets.grow_nearest`, also
  memory-first), smallest size kept. Bytes: on v's own host, M_v - (its memory already
  in N), which stays (y_vNn >= c_vn x_vN); on another host, M_v (a live migration copies
  everything).

Capacity: on every node of every host, the memory of all VMs there after the choice is
at most the node's capacity for VMs — its free memory plus the VMs' own resident memory
on it, less memory claimed for VMs being started (the whole node when nothing else uses
it). No headroom is kept: the oracle is what is possible, not what a cautious policy
does. A multi-node home's memory splits freely over its nodes (continuous y). CPU
capacity is not constrained — more optimistic, so still a bound on what a policy that
also respects CPUs can do.

`Limits` adds the operator's own limits, the ones the controller's rebalancer keeps
(`RebalanceSettings.cpu_overcommit`, `node_headroom_fraction`), as the rebalancer keeps
them: after the choice a node carries at most overcommit x its CPUs in vCPUs and leaves
the headroom free; a node already past a line may keep what it has, but takes no new
vCPUs, and no new memory unless the choice brings it under the memory line (a binary
z_n per such node: memory arriving => total <= line). That oracle answers "what was
possible within the rules the operator set", the other "what was possible at all".

With x_o binary per option o (one per VM), y_on >= 0 per home option and node,
stay loss s_v = M_v (1 - l_v) and total M = sum M_v:

    sum_o x_o = 1 (per VM);  sum_n y_on = M_v x_o;  y_on >= c_vn x_o (own host);
    sum_v c_vn x_stay(v) + sum_o y_on <= capacity_n (per node)
    MILP 1:  L*(S) = 1 - (min sum_v s_v x_stay(v)) / M
    MILP 2:  D(S, T) = min sum_o bytes_o x_o   s.t.  sum_v s_v x_stay(v) <= (1 - T) M

The oracle as a policy reaches L* moving D(S, L*) bytes; D(S, 0.95 L*) is what reaching
only the rebalancing benchmark's locality target needs (`RoomOracle.deficit` and `strict_deficit`).

Both are solved exactly with scipy's HiGHS (`scipy.optimize.milp`); the instances are
small (rebalance-churn: 2 hosts x 4 nodes, about 20 VMs, a few hundred variables).
Instances over `VARIABLE_LIMIT` or a failed solve fall back to a capacity-blind value,
labelled `bound`: L* = 1.0, and for D the relaxation that drops capacities — each VM
keeps at most max(l_v M_v, its most memory in one own-host home set) without moving a
byte and gains at most a byte per byte moved, so D >= T M - sum of those. (Not
`min_bytes_to_move` with vCPUs kept: a home re-pins vCPUs, so that one is not a lower
bound on D.) A solve stopped by the time limit reports its dual bound, also `bound`.

What L* is not: the supremum of the `locality` metric. Binding a VM's vCPUs to every
node that holds its memory scores 1.0 without moving a byte, so that supremum is always
1.0 (`numaplane.bench.oracle` says so). L* is the best over compact placements — the fewest nodes
that hold each VM, what access locality and throughput reward — so a policy that spreads
vCPUs over a spilled VM's nodes can sample above L* and move fewer bytes than D.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from functools import cache, lru_cache
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_array

from numaplane.bench.oracle import Kind
from numaplane.controller.policy.placement.node_sets import FitNeed, NodeSet, grown_sets
from numaplane.controller.policy.rebalance.untouched import untouched_bytes
from numaplane.controller.policy.types import ClusterView, HostView, VmView

VARIABLE_LIMIT = 4000
"""Largest program (variables) solved exactly; larger instances get the blind fallback."""
SOLVER_TIME_LIMIT_S = 10.0
CACHE_SIZE = 4096
"""States remembered per run (cleared when full: a run revisits recent states only)."""
MIP_REL_GAP = 1e-7
"""HiGHS stops at a relative gap of 1e-4 by default: too loose to call the value exact."""


@dataclass(frozen=True)
class RoomValue:
    """A value of the oracle and how it was obtained (`exact`, or a proven `bound`)."""

    value: float
    kind: Kind
    method: str


@dataclass(frozen=True)
class _Option:
    vm: int
    host: int
    nodes: NodeSet | None
    """None: stay."""
    moved: int
    """Bytes it moves."""


@dataclass(frozen=True)
class _Instance:
    """One state's options and constraints, built once and shared by both programs."""

    sizes: tuple[int, ...]
    """M_v per VM."""
    pending: tuple[int, ...]
    """Memory each VM's guest has yet to touch (`untouched_bytes`)."""
    q_loss: tuple[int, ...]
    """Columns of untouched memory landing off its VM's vCPU nodes: locality lost."""
    losses: tuple[int, ...]
    """s_v = M_v (1 - l_v) in bytes, per VM."""
    local_best: tuple[int, ...]
    """Local bytes each VM can reach without moving one (for the blind fallback)."""
    options: tuple[_Option, ...]
    stay: tuple[int, ...]
    """Index of each VM's stay option."""
    variables: int
    a: Any
    """The constraint matrix (scipy sparse, CSR)."""
    lo: np.ndarray
    hi: np.ndarray
    integrality: np.ndarray
    upper: np.ndarray
    unit: float

    @property
    def total(self) -> int:
        """The memory locality is weighed over once every guest has touched its own."""
        return sum(self.sizes) + sum(self.pending)


def state_key(view: ClusterView) -> Hashable:
    """What the oracle's values depend on: equal keys, equal values (for caching)."""
    return tuple(
        (
            h.name,
            tuple((n.id, n.memory_free_bytes) for n in h.topology.nodes),
            tuple(sorted(h.claimed_by_node.items())),
            tuple(
                (vm.name, tuple(sorted(vm.memory_by_node.items())), vm.running_nodes)
                for vm in h.vms
            ),
        )
        for h in view.hosts
    )


def node_capacity(host: HostView) -> dict[int, int]:
    """Memory VMs may use per node: the VMs' own resident bytes + what is free after claims
    in flight (never below what they hold now, so that every VM staying is feasible)."""
    cap = {
        n.id: max(0, n.memory_free_bytes - host.claimed_by_node.get(n.id, 0))
        for n in host.topology.nodes
    }
    for vm in host.vms:
        for node, b in vm.memory_by_node.items():
            if node in cap:
                cap[node] += b
    return cap


def home_sets(host: HostView, capacity: dict[int, int], size: int) -> list[NodeSet]:
    """The homes of a VM of `size` bytes on `host` (see the module docstring)."""
    topo = host.topology
    nodes = tuple(n.id for n in topo.nodes if n.cpus and capacity.get(n.id, 0) > 0)
    return list(
        _home_sets(
            nodes,
            tuple(capacity[n] for n in nodes),
            tuple(len(topo.node(n).cpus) for n in nodes),
            tuple(tuple(topo.distance(a, b) for b in nodes) for a in nodes),
            size,
        )
    )


@lru_cache(maxsize=4096)
def _home_sets(
    nodes: tuple[int, ...],
    memory: tuple[int, ...],
    cpus: tuple[int, ...],
    matrix: tuple[tuple[int, ...], ...],
    size: int,
) -> tuple[NodeSet, ...]:
    """Cached by host shape and VM size: a cluster has few of each. Every smallest set
    `grown_sets` finds, not only the most compact: the oracle may use any of them."""
    need = FitNeed(memory_bytes=size, cpus=0)
    sets = grown_sets(
        nodes,
        dict(zip(nodes, memory, strict=True)),
        dict(zip(nodes, cpus, strict=True)),
        need,
        matrix,
        most_compact=False,
    )
    return tuple(sets)


@dataclass(frozen=True)
class Limits:
    """Operator limits the oracle may be asked to keep, as the controller's rebalancer
    does (`RebalanceSettings`): without them it is what memory alone allows."""

    cpu_overcommit: float | None = None
    """Most vCPUs per CPU a node may carry after the choice (None: unlimited). A node
    already above it may keep its load, not grow it."""
    headroom_fraction: float = 0.0
    """Share of each node's memory left free after the choice. A node already above the
    line may keep what it holds, not take more."""


NO_LIMITS = Limits()


def build(view: ClusterView, limits: Limits = NO_LIMITS) -> _Instance | None:
    """The programs' common part for `view`; None when over `VARIABLE_LIMIT`."""
    hosts = view.hosts
    caps = [node_capacity(h) for h in hosts]
    vms: list[tuple[int, VmView]] = [
        (hi, vm)
        for hi, h in enumerate(hosts)
        for vm in h.vms
        if sum(vm.memory_by_node.values()) + untouched_bytes(vm) > 0
    ]
    sizes = tuple(sum(vm.memory_by_node.values()) for _, vm in vms)
    pending = tuple(untouched_bytes(vm) for _, vm in vms)
    unit = float(max((*sizes, *pending, 1)))
    losses: list[int] = []
    local_best: list[int] = []
    options: list[_Option] = []
    stay: list[int] = []
    homes_of: dict[tuple[int, int], list[NodeSet]] = {}
    for v, (own, vm) in enumerate(vms):
        size = sizes[v]
        local = sum(b for n, b in vm.memory_by_node.items() if n in vm.running_nodes)
        losses.append(size - local)
        stay.append(len(options))
        options.append(_Option(v, own, None, 0))
        best = local
        for hi, h in enumerate(hosts):
            key = (hi, size + pending[v])  # a home holds what the VM will touch too
            if key not in homes_of:
                homes_of[key] = home_sets(h, caps[hi], size + pending[v])
            for nodes in homes_of[key]:
                if hi == own:
                    kept = sum(vm.memory_by_node.get(n, 0) for n in nodes)
                    best = max(best, kept)
                    options.append(_Option(v, hi, nodes, size - kept))
                else:
                    options.append(_Option(v, hi, nodes, size))
        local_best.append(best)
    cols = len(options)
    y_index: dict[tuple[int, int], int] = {}
    for o, opt in enumerate(options):
        for n in opt.nodes or ():
            y_index[(o, n)] = cols
            cols += 1
    lines = [_headroom_lines(h, caps[hi], limits) for hi, h in enumerate(hosts)]
    over = [
        (hi, n) for hi, h in enumerate(hosts) for n, line in lines[hi].items()
        if _held(h).get(n, 0) > line
    ]  # fmt: skip
    z_index = {key: cols + i for i, key in enumerate(over)}
    cols += len(over)
    q_index: dict[tuple[int, int], int] = {}
    for o, opt in enumerate(options):  # where a staying VM's untouched memory lands
        if opt.nodes is None and pending[opt.vm] > 0:
            for n in hosts[opt.host].topology.node_ids:
                q_index[(o, n)] = cols
                cols += 1
    if cols > VARIABLE_LIMIT:
        return None
    choose: list[dict[int, float]] = [{} for _ in vms]
    for o, opt in enumerate(options):
        choose[opt.vm][o] = 1.0
    rows: list[tuple[dict[int, float], float, float]] = [(c, 1.0, 1.0) for c in choose]
    load: dict[tuple[int, int], dict[int, float]] = {}
    for o, opt in enumerate(options):
        own, vm = vms[opt.vm]
        if opt.nodes is None:
            for n, b in vm.memory_by_node.items():
                load.setdefault((own, n), {})[o] = b / unit
            continue
        split = {y_index[(o, n)]: 1.0 for n in opt.nodes}
        rows.append(({**split, o: -(sizes[opt.vm] + pending[opt.vm]) / unit}, 0.0, 0.0))
        for n in opt.nodes:
            y = y_index[(o, n)]
            load.setdefault((opt.host, n), {})[y] = 1.0
            current = vm.memory_by_node.get(n, 0) if opt.host == own else 0
            if current > 0:
                rows.append(({y: 1.0, o: -current / unit}, 0.0, np.inf))
    arrivals: dict[tuple[int, int], dict[int, float]] = {}
    for o, opt in enumerate(options):
        own, vm = vms[opt.vm]
        for n in opt.nodes or ():
            current = vm.memory_by_node.get(n, 0) if opt.host == own else 0
            into = arrivals.setdefault((opt.host, n), {})
            into[y_index[(o, n)]] = 1.0
            if current:
                into[o] = -current / unit
    for (hi, n), coefs in load.items():
        cap = caps[hi].get(n)
        if cap is None:
            continue
        line = lines[hi].get(n)
        z = z_index.get((hi, n))
        if z is None:  # at or under its line now: it may fill up to the line
            rows.append((coefs, -np.inf, min(cap, cap if line is None else line) / unit))
            continue
        # Past its line now: it may keep what it holds, but take no memory in unless the
        # choice brings it under the line (z: memory arrives; then total <= line).
        held, line_ = _held(hosts[hi])[n], lines[hi][n]
        rows.append(({**coefs, z: (held - line_) / unit}, -np.inf, held / unit))
        into = arrivals.get((hi, n), {})
        if into:
            rows.append(({**into, z: -cap / unit}, -np.inf, 0.0))
    if limits.cpu_overcommit is not None:
        rows += _cpu_rows(hosts, vms, options, limits.cpu_overcommit)
    u_index: dict[int, int] = {}
    for (o, _), _col in q_index.items():
        if options[o].host not in u_index:
            u_index[options[o].host] = cols
            cols += 1
    for hi, u in u_index.items():
        rows += _untouched_rows(hosts[hi], hi, u, options, q_index, load, caps[hi], pending, unit)
    q_loss = tuple(
        col for (o, n), col in q_index.items() if n not in vms[options[o].vm][1].running_nodes
    )
    a, lo, hi_ = _matrix(rows, cols)
    integrality = np.zeros(cols)
    integrality[: len(options)] = 1
    upper = np.full(cols, np.inf)
    upper[: len(options)] = 1.0
    for z in (*z_index.values(), *u_index.values()):
        integrality[z], upper[z] = 1, 1.0
    if limits.cpu_overcommit is not None:
        for o in _onto_overloaded(hosts, vms, options, limits.cpu_overcommit):
            upper[o] = 0.0
    return _Instance(
        sizes=sizes,
        pending=pending,
        q_loss=q_loss,
        losses=tuple(losses),
        local_best=tuple(local_best),
        options=tuple(options),
        stay=tuple(stay),
        variables=cols,
        a=a,
        lo=lo,
        hi=hi_,
        integrality=integrality,
        upper=upper,
        unit=unit,
    )


def _untouched_rows(
    host: HostView,
    hi: int,
    u: int,
    options: Sequence[_Option],
    q_index: dict[tuple[int, int], int],
    load: dict[tuple[int, int], dict[int, float]],
    capacity: dict[int, int],
    pending: Sequence[int],
    unit: float,
) -> list[tuple[dict[int, float], float, float]]:
    """Where the memory a staying guest has yet to touch lands (q_on, per node of its
    host), and the rule that makes it land: a first touch takes any room there is, so
    memory is left unbacked (u = 1) only when the host has no room left at all.

        sum_n q_on <= p_v x_o                       (at most what it has to touch)
        memory + q on each node <= its capacity     (physical: a touch ignores headroom)
        unbacked = sum_o (p_v x_o - sum_n q_on) <= BIG u
        free after = sum_n capacity_n - (memory + q) <= BIG (1 - u)

    Untouched memory of a VM homed elsewhere travels inside its home (its y). Where on
    the host the memory lands is left to the program (the best case for locality; the
    simulator puts it on the vCPUs' node, else the nearest with room).
    """
    nodes = host.topology.node_ids
    big = sum(capacity.values()) / unit + sum(pending) / unit + 1.0
    rows: list[tuple[dict[int, float], float, float]] = []
    unbacked: dict[int, float] = {}
    for o, opt in enumerate(options):
        if opt.nodes is not None or opt.host != hi or (o, nodes[0]) not in q_index:
            continue
        qs = {q_index[(o, n)]: 1.0 for n in nodes}
        rows.append(({**qs, o: -pending[opt.vm] / unit}, -np.inf, 0.0))
        unbacked[o] = pending[opt.vm] / unit
        for col in qs:
            unbacked[col] = -1.0
    rows.append(({**unbacked, u: -big}, -np.inf, 0.0))
    used: dict[int, float] = {}
    for n in nodes:
        on_node = dict(load.get((hi, n), {}))
        for (o, m), col in q_index.items():
            if m == n and options[o].host == hi:
                on_node[col] = 1.0
        rows.append((on_node, -np.inf, capacity.get(n, 0) / unit))
        for col, c in on_node.items():
            used[col] = used.get(col, 0.0) - c
    rows.append(({**used, u: big}, -np.inf, big - sum(capacity.values()) / unit))
    return rows


def _held(host: HostView) -> dict[int, int]:
    """Memory the host's VMs hold per node now."""
    held: dict[int, int] = {}
    for vm in host.vms:
        for n, b in vm.memory_by_node.items():
            held[n] = held.get(n, 0) + b
    return held


def _headroom_lines(host: HostView, cap: dict[int, int], limits: Limits) -> dict[int, int]:
    """Per node, the most VM memory that leaves the headroom free (none without one);
    `cap` is `node_capacity(host)`."""
    if limits.headroom_fraction <= 0:
        return {}
    return {
        n: c - int(limits.headroom_fraction * host.topology.node(n).memory_total_bytes)
        for n, c in cap.items()
    }


def _loads_now(
    vms: Sequence[tuple[int, VmView]],
) -> dict[tuple[int, int], float]:
    load: dict[tuple[int, int], float] = {}
    for own, vm in vms:
        for n in vm.running_nodes:
            load[(own, n)] = load.get((own, n), 0.0) + vm.vcpus / len(vm.running_nodes)
    return load


def _onto_overloaded(
    hosts: Sequence[HostView],
    vms: Sequence[tuple[int, VmView]],
    options: Sequence[_Option],
    overcommit: float,
) -> list[int]:
    """Home options that would put vCPUs on a node already past the vCPU limit, where
    they do not run now: the rebalancer never adds load there, nor may the oracle."""
    now = _loads_now(vms)
    out = []
    for o, opt in enumerate(options):
        if opt.nodes is None:
            continue
        own, vm = vms[opt.vm]
        for n in opt.nodes:
            cpus = len(hosts[opt.host].topology.node(n).cpus)
            over = now.get((opt.host, n), 0.0) > overcommit * cpus + 1e-9
            if over and not (opt.host == own and n in vm.running_nodes):
                out.append(o)
                break
    return out


def _cpu_rows(
    hosts: Sequence[HostView],
    vms: Sequence[tuple[int, VmView]],
    options: Sequence[_Option],
    overcommit: float,
) -> list[tuple[dict[int, float], float, float]]:
    """vCPUs per node after the choice <= max(overcommit x CPUs, its load now); a VM on k
    nodes counts vcpus / k on each, as `HostView.vcpus_on_node` does."""
    load: dict[tuple[int, int], dict[int, float]] = {}
    now = _loads_now(vms)
    for o, opt in enumerate(options):
        own, vm = vms[opt.vm]
        nodes = vm.running_nodes if opt.nodes is None else frozenset(opt.nodes)
        host = own if opt.nodes is None else opt.host
        for n in nodes:
            load.setdefault((host, n), {})[o] = vm.vcpus / len(nodes)
    rows: list[tuple[dict[int, float], float, float]] = []
    for (hi, n), coefs in load.items():
        cpus = len(hosts[hi].topology.node(n).cpus)
        rows.append((coefs, -np.inf, max(overcommit * cpus, now.get((hi, n), 0.0)) + 1e-9))
    return rows


def _matrix(
    rows: Sequence[tuple[dict[int, float], float, float]], cols: int
) -> tuple[Any, np.ndarray, np.ndarray]:
    row_ids, col_ids, coefs_ = [], [], []
    lo, hi = np.zeros(len(rows)), np.zeros(len(rows))
    for r, (coefs, low, high) in enumerate(rows):
        for i, coef in coefs.items():
            row_ids.append(r)
            col_ids.append(i)
            coefs_.append(coef)
        lo[r], hi[r] = low, high
    return coo_array((coefs_, (row_ids, col_ids)), shape=(len(rows), cols)).tocsr(), lo, hi


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """HiGHS (as scipy bundles it) prints some internal notices, such as
    "HighsMipSolverData::transformNewIntegerFeasibleSolution tmpSolver.run();", straight to
    file descriptor 1 whatever `disp` says, which corrupts `--output json`. Point fd 1 at
    /dev/null while it solves."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 1)
            yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def _solve(inst: _Instance, c: np.ndarray, extra: LinearConstraint | None = None) -> Any:
    constraints = [LinearConstraint(inst.a, inst.lo, inst.hi)]
    if extra is not None:
        constraints.append(extra)
    with _native_stdout_silenced():
        return _milp(c, constraints, inst)


def _milp(c: np.ndarray, constraints: list[LinearConstraint], inst: _Instance) -> Any:
    return milp(
        c,
        constraints=constraints,
        integrality=inst.integrality,
        bounds=Bounds(np.zeros(inst.variables), inst.upper),
        options={"time_limit": SOLVER_TIME_LIMIT_S, "mip_rel_gap": MIP_REL_GAP},
    )


def _loss_row(inst: _Instance) -> np.ndarray:
    """Coefficients of the stay losses sum_v s_v x_stay(v), in units."""
    row = np.zeros(inst.variables)
    for v, o in enumerate(inst.stay):
        row[o] = inst.losses[v] / inst.unit
    for col in inst.q_loss:
        row[col] = 1.0
    return row


Builder = Callable[[], "_Instance | None"]


def _memory(view: ClusterView) -> tuple[int, int]:
    """(resident memory, memory on the nodes where the vCPUs run), over the cluster."""
    total = local = 0
    for h in view.hosts:
        for vm in h.vms:
            for n, b in vm.memory_by_node.items():
                total += b
                if n in vm.running_nodes:
                    local += b
    return total, local


def best_locality(
    view: ClusterView, instance: Builder | None = None, limits: Limits = NO_LIMITS
) -> RoomValue:
    """L*(S): the best memory-weighted locality over the options (MILP 1)."""
    total, local = _memory(view)
    untouched = any(untouched_bytes(vm) for h in view.hosts for vm in h.vms)
    if total == 0 and not untouched:
        return RoomValue(1.0, "exact", "no VM memory")
    if local >= total and not untouched:
        return RoomValue(1.0, "exact", "every VM already local")
    inst = (instance or (lambda: build(view, limits)))()
    if inst is None:
        return RoomValue(1.0, "bound", "capacity-blind (instance over the variable limit)")
    res = _solve(inst, _loss_row(inst))
    scale = inst.unit / inst.total
    if res.status == 0:
        return RoomValue(_clip(1.0 - float(res.fun) * scale), "exact", "MILP 1 (HiGHS), optimal")
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and math.isfinite(dual):
        return RoomValue(
            _clip(1.0 - float(dual) * scale), "bound", "MILP 1, time limit: dual bound"
        )
    return RoomValue(1.0, "bound", "capacity-blind (MILP 1 failed)")


def min_bytes(
    view: ClusterView, target: float, instance: Builder | None = None, limits: Limits = NO_LIMITS
) -> RoomValue:
    """D(S, T): the fewest bytes over the options whose locality is at least `target`
    (MILP 2). Infinite (`exact`) when no choice of options reaches it (T > L*)."""
    total, local = _memory(view)
    untouched = any(untouched_bytes(vm) for h in view.hosts for vm in h.vms)
    if not untouched and (total == 0 or local >= target * total - 1e-6):
        return RoomValue(0.0, "exact", "already at the target")
    inst = (instance or (lambda: build(view, limits)))()
    if inst is None:
        return _blind_bytes(view, target, "capacity-blind (instance over the variable limit)")
    c = np.zeros(inst.variables)
    for o, opt in enumerate(inst.options):
        c[o] = opt.moved / inst.unit
    allowed = (1.0 - target) * inst.total / inst.unit + 1e-9
    res = _solve(inst, c, LinearConstraint(_loss_row(inst)[None, :], -np.inf, allowed))
    if res.status == 0:
        return RoomValue(
            float(round(float(res.fun) * inst.unit)), "exact", "MILP 2 (HiGHS), optimal"
        )
    if res.status == 2:  # infeasible: no choice of options reaches the target
        return RoomValue(math.inf, "exact", "MILP 2: target above L*")
    blind = _blind_value(inst, target)
    dual = getattr(res, "mip_dual_bound", None)
    if dual is not None and math.isfinite(dual):
        value = max(blind, math.ceil(float(dual) * inst.unit - 1e-6))
        return RoomValue(float(value), "bound", "MILP 2, time limit: dual bound")
    return RoomValue(float(blind), "bound", "capacity-blind (MILP 2 failed)")


def _blind_value(inst: _Instance, target: float) -> int:
    return max(0, math.ceil(target * inst.total - sum(inst.local_best) - 1e-6))


def _blind_bytes(view: ClusterView, target: float, method: str) -> RoomValue:
    """The capacity-blind relaxation of the module docstring, without building a program."""
    total = best = 0
    for h in view.hosts:
        cap = node_capacity(h)
        for vm in h.vms:
            size = sum(vm.memory_by_node.values())
            local = sum(b for n, b in vm.memory_by_node.items() if n in vm.running_nodes)
            kept = max(
                (sum(vm.memory_by_node.get(n, 0) for n in s) for s in home_sets(h, cap, size)),
                default=0,
            )
            total += size
            best += max(local, kept)
    return RoomValue(float(max(0, math.ceil(target * total - best - 1e-6))), "bound", method)


def _clip(x: float) -> float:
    return min(1.0, max(0.0, x))


class RoomOracle:
    """L* and D for the states of one run, cached by state, counting how each was found.

    `deficit` is D(S, L*): the fewest bytes to reach the oracle's own locality — the
    oracle is one policy, the best locality at the least cost, and the benchmark's bytes
    target compares with what it moves. `strict_deficit` is D(S, share x L*): the fewest
    bytes to reach only the locality target, a second, stricter yardstick.

    The rebalancing harness asks about the same state several times (after a tick's
    sample, and before the next tick's events); `methods` counts the distinct solves by
    kind and method, so a report can say whether every value was exact.
    """

    def __init__(self, share: float, limits: Limits = NO_LIMITS) -> None:
        self.share = share
        self.limits = limits
        self.methods: Counter[str] = Counter()
        self._cache: dict[Hashable, tuple[RoomValue, dict[float, RoomValue]]] = {}

    def target(self, view: ClusterView) -> float:
        """`share` x L*(S)."""
        return self.share * self._values(view, ())[0].value

    def deficit(self, view: ClusterView) -> int:
        """D(S, L*(S)), in bytes."""
        return int(self._values(view, (1.0,))[1][1.0].value)

    def strict_deficit(self, view: ClusterView) -> int:
        """D(S, share x L*(S)), in bytes."""
        return int(self._values(view, (self.share,))[1][self.share].value)

    @property
    def all_exact(self) -> bool:
        return all(m.startswith("exact") for m in self.methods)

    def _values(
        self, view: ClusterView, shares: tuple[float, ...]
    ) -> tuple[RoomValue, dict[float, RoomValue]]:
        key = state_key(view)
        found = self._cache.get(key)
        if found is not None and all(sh in found[1] for sh in shares):
            return found
        instance = cache(lambda: build(view, self.limits))
        star = found[0] if found is not None else self._count(best_locality(view, instance))
        ds = dict(found[1]) if found is not None else {}
        for sh in shares:
            if sh in ds:
                continue
            goal = sh * star.value - (1e-9 if sh >= 1.0 else 0.0)
            d = min_bytes(view, goal, instance)
            if not math.isfinite(d.value):  # only after a bounded L*: out of reach
                d = _blind_bytes(view, goal, "capacity-blind (L* only bounded)")
            ds[sh] = self._count(d)
        if len(self._cache) >= CACHE_SIZE:
            self._cache.clear()
        self._cache[key] = (star, ds)
        return star, ds

    def _count(self, value: RoomValue) -> RoomValue:
        self.methods[f"{value.kind}: {value.method}"] += 1
        return value
