"""Reading one VM request (with its workload) from a scenario mapping.

Shared by `create_vm`, `create_vms` and the entries of a `churn` mix, so a VM is written
the same way everywhere: sizes as `<x>_gib: 1.5` or `<x>: 1536M`.
"""

from __future__ import annotations

from collections.abc import Mapping

from numaplane.bench.events import VmSpec, Workload
from numaplane.bench.scenario_source import Fields, PathT, Source, integer, number, text
from numaplane.common.units import GiB, SizeError, parse_size
from numaplane.controller.policy.types import Affinity, VmRequest

AFFINITIES = ("affinity", "anti-affinity")


def read_bytes(fields: Fields, base: str, *, required: bool) -> int | None:
    """`<base>_gib` (a number of GiB) or `<base>` (a size such as 512M), at most one."""
    gib_key = f"{base}_gib"
    if fields.has(gib_key) and fields.has(base):
        raise fields.error(base, f"give {gib_key} or {base}, not both")
    if fields.has(gib_key):
        return int(fields.get(gib_key, number(above=0)) * GiB)
    if fields.has(base):
        return fields.get(base, _size)
    if required:
        raise fields.error(None, f"missing required key {gib_key!r} (or {base!r})")
    return None


def _size(value: object) -> int:
    try:
        return parse_size(str(value))
    except SizeError as e:
        raise ValueError(str(e)) from None


def read_workload(data: object, path: PathT, source: Source, memory_bytes: int) -> Workload:
    fields = Fields(data, path, source, "workload")
    workload = Workload(
        memory_intensity=fields.get("memory_intensity", number(0, maximum=1), 0.5),
        working_set_bytes=read_bytes(fields, "working_set", required=False),
        cpu_utilization=fields.get("cpu_utilization", number(above=0, maximum=1), 1.0),
    )
    fields.finish()
    if workload.working_set_bytes is not None and workload.working_set_bytes > memory_bytes:
        raise fields.error("working_set_gib", "the working set is larger than the VM's memory")
    return workload


def read_vm(fields: Fields, name: str, host_nodes: Mapping[str, tuple[int, ...]]) -> VmSpec:
    """A VM from `fields` (every key but `name`, which the caller reads or generates).

    `host_nodes` maps each host of the scenario to its node ids, to check `host`/`nodes`.
    """
    vcpus = fields.get("vcpus", integer(1))
    memory = read_bytes(fields, "memory", required=True)
    assert memory is not None
    reservation = read_bytes(fields, "reservation", required=False) or 0
    limit = read_bytes(fields, "limit", required=False)
    if reservation > memory:
        raise fields.error("reservation_gib", "the reservation exceeds the VM's memory")
    if limit is not None and not reservation <= limit <= memory:
        raise fields.error("limit_gib", "the limit must lie between reservation and memory")
    host = fields.optional("host", text)
    nodes = fields.optional("nodes", _node_list)
    if host is not None and host not in host_nodes:
        raise fields.error("host", f"no host named {host!r} in this scenario")
    if nodes is not None:
        if host is None:
            raise fields.error("nodes", "nodes need a host")
        unknown = sorted(set(nodes) - set(host_nodes[host]))
        if unknown:
            raise fields.error("nodes", f"host {host} has no nodes {unknown}")
    group = fields.optional("group", text)
    affinity = fields.optional("affinity", _affinity)
    if affinity is not None and group is None:
        raise fields.error("affinity", "an affinity rule needs a group")
    request = VmRequest(
        name=name,
        vcpus=vcpus,
        memory_bytes=memory,
        reservation_bytes=reservation,
        limit_bytes=limit,
        shares=fields.get("shares", integer(1), 1000),
        host=host,
        nodes=nodes,
        group=group,
        affinity=affinity,
        policy=fields.optional("policy", text),
    )
    workload = (
        read_workload(fields.raw("workload"), (*fields.path, "workload"), fields.source, memory)
        if fields.has("workload")
        else Workload()
    )
    return VmSpec(request=request, workload=workload)


def _node_list(value: object) -> tuple[int, ...]:
    if not isinstance(value, list) or not value:
        raise ValueError(f"expected a non-empty list of node ids, got {value!r}")
    return tuple(integer(0)(v) for v in value)


def _affinity(value: object) -> Affinity:
    if value == "affinity":
        return "affinity"
    if value == "anti-affinity":
        return "anti-affinity"
    raise ValueError(f"expected one of {AFFINITIES}, got {value!r}")
