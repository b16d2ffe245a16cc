"""Read a simulated host from a plain dict (YAML/JSON), the shape scenario files use.

One parser serves the benchmark's scenario files, the agent's `--sim-topology` file and
the demo, so a host is written the same way everywhere:

    name: h
    nodes:
      - {cpus: 8, memory_gib: 6}          # or memory: 6G, or memory_bytes: ...
      - {cpus: 8, memory_gib: 6, offline_cpus: 2, bandwidth_gbps: 40}
      - {cpus: 4, memoryless: true}
    distances: [[10, 21, 21], [21, 10, 21], [21, 21, 10]]
    touch_rate_gib_s: 2                   # optional; default: memory touched at once
    balloon_rate_gib_s: 0.5               # optional; default: at once

Errors are `SimSpecError` with the path of the offending field, so that callers who know
where the dict came from (a YAML file with line numbers) can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from numaplane.common.units import GiB, SizeError, parse_size
from numaplane.hostagent.drivers.sim.spec import SimHostSpec, SimNodeSpec, SimSpecError

Path_ = tuple[str | int, ...]

HOST_KEYS = frozenset({"name", "nodes", "distances", "touch_rate_gib_s", "balloon_rate_gib_s"})
NODE_KEYS = frozenset(
    {"cpus", "memory_gib", "memory", "memory_bytes", "offline_cpus", "bandwidth_gbps", "memoryless"}
)
MEMORY_KEYS = ("memory_gib", "memory", "memory_bytes")


def _check_keys(data: Mapping[str, Any], allowed: frozenset[str], path: Path_) -> None:
    for key in data:
        if key not in allowed:
            raise SimSpecError(
                (*path, str(key)), f"unknown key {key!r} (expected one of {sorted(allowed)})"
            )


def _number(value: Any, path: Path_, *, positive: bool = True) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SimSpecError(path, f"expected a number, got {value!r}")
    if positive and value <= 0:
        raise SimSpecError(path, f"must be > 0, got {value!r}")
    return float(value)


def _count(value: Any, path: Path_, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise SimSpecError(path, f"expected a whole number, got {value!r}")
    if value < minimum:
        raise SimSpecError(path, f"must be >= {minimum}, got {value}")
    return value


def _node_memory(data: Mapping[str, Any], path: Path_) -> int:
    given = [k for k in MEMORY_KEYS if k in data]
    if data.get("memoryless", False) is True:
        if given:
            raise SimSpecError((*path, given[0]), "a memoryless node has no memory")
        return 0
    if len(given) != 1:
        raise SimSpecError(path, f"give exactly one of {', '.join(MEMORY_KEYS)}")
    key = given[0]
    value = data[key]
    if key == "memory":
        try:
            return parse_size(str(value))
        except SizeError as e:
            raise SimSpecError((*path, key), str(e)) from None
    if key == "memory_gib":
        return int(_number(value, (*path, key)) * GiB)
    return _count(value, (*path, key), minimum=1)


def node_spec_from_dict(data: Any, path: Path_ = ()) -> SimNodeSpec:
    if not isinstance(data, Mapping):
        raise SimSpecError(path, f"a node is a mapping, got {data!r}")
    _check_keys(data, NODE_KEYS, path)
    if "memoryless" in data and not isinstance(data["memoryless"], bool):
        raise SimSpecError((*path, "memoryless"), "expected true or false")
    if "cpus" not in data:
        raise SimSpecError(path, "missing required key 'cpus'")
    bandwidth = data.get("bandwidth_gbps")
    return SimNodeSpec(
        cpus=_count(data["cpus"], (*path, "cpus"), minimum=0),
        memory_bytes=_node_memory(data, path),
        offline_cpus=_count(data.get("offline_cpus", 0), (*path, "offline_cpus"), minimum=0),
        bandwidth_bytes_per_s=None
        if bandwidth is None
        else _number(bandwidth, (*path, "bandwidth_gbps")) * 1e9,
    )


def _distances(value: Any, n_nodes: int, path: Path_) -> tuple[tuple[int, ...], ...]:
    if value is None:
        if n_nodes == 1:
            return ((10,),)
        raise SimSpecError(path, f"a host with {n_nodes} nodes needs a distance matrix")
    if not isinstance(value, list) or len(value) != n_nodes:
        raise SimSpecError(path, f"expected {n_nodes} rows (one per node), got {value!r}")
    rows = []
    for i, row in enumerate(value):
        if not isinstance(row, list) or len(row) != n_nodes:
            raise SimSpecError((*path, i), f"expected a row of {n_nodes} distances, got {row!r}")
        rows.append(tuple(_count(d, (*path, i, j), minimum=1) for j, d in enumerate(row)))
        if rows[i][i] != 10:
            raise SimSpecError((*path, i, i), f"a node's distance to itself is 10, got {row[i]}")
    return tuple(rows)


def host_spec_from_dict(data: Any, *, name: str | None = None) -> SimHostSpec:
    """Build a SimHostSpec; `name` overrides the dict's name (hosts stamped out by count)."""
    if not isinstance(data, Mapping):
        raise SimSpecError((), f"a host is a mapping, got {data!r}")
    _check_keys(data, HOST_KEYS, ())
    host_name = name if name is not None else data.get("name")
    if not isinstance(host_name, str) or not host_name:
        raise SimSpecError(("name",), "a host needs a non-empty name")
    raw_nodes = data.get("nodes")
    if not isinstance(raw_nodes, list) or not raw_nodes:
        raise SimSpecError(("nodes",), "a host needs a non-empty list of nodes")
    nodes = tuple(node_spec_from_dict(n, ("nodes", i)) for i, n in enumerate(raw_nodes))
    rates = {
        key: None if data.get(key) is None else _number(data[key], (key,)) * GiB
        for key in ("touch_rate_gib_s", "balloon_rate_gib_s")
    }
    return SimHostSpec(
        name=host_name,
        nodes=nodes,
        distances=_distances(data.get("distances"), len(nodes), ("distances",)),
        touch_rate_bytes_per_s=rates["touch_rate_gib_s"],
        balloon_rate_bytes_per_s=rates["balloon_rate_gib_s"],
    )


def load_host_spec(path: Path, *, name: str | None = None) -> SimHostSpec:
    """Read a host from a YAML (or JSON) file such as the agent's `--sim-topology`."""
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise SimSpecError((), f"{path}: {e}") from None
    try:
        return host_spec_from_dict(data, name=name)
    except SimSpecError as e:
        raise SimSpecError(e.path, f"{path}: {e.reason}") from None
