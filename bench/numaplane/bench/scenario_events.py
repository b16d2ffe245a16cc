"""Reading a scenario's `events:` list, and checking that every event names a real VM.

Each event is a mapping with `at` (simulated seconds) and exactly one kind:
`create_vm`, `create_vms`, `set_workload`, `delete_vm` or `churn`. Events are applied in
time order, file order among equal times; references are checked in that same order, so
`set_workload` on a VM before it is created, or after it is deleted, is an error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from numaplane.bench.events import (
    Churn,
    ChurnSize,
    CreateVms,
    DeleteVm,
    Event,
    VmSpec,
    WorkloadChange,
)
from numaplane.bench.scenario_source import (
    Fields,
    PathT,
    ScenarioError,
    Source,
    boolean,
    integer,
    number,
    text,
)
from numaplane.bench.scenario_vm import read_bytes, read_vm

KINDS = ("create_vm", "create_vms", "set_workload", "delete_vm", "churn")


def read_events(
    data: Any, source: Source, duration_s: float, host_nodes: Mapping[str, tuple[int, ...]]
) -> tuple[Event, ...]:
    if data is None:
        return ()
    if not isinstance(data, list):
        raise source.error(("events",), "events must be a list")
    events = [
        _read_event(item, ("events", i), source, duration_s, host_nodes)
        for i, item in enumerate(data)
    ]
    check_references(events, source)
    return tuple(events)


def _read_event(
    item: Any,
    path: PathT,
    source: Source,
    duration_s: float,
    host_nodes: Mapping[str, tuple[int, ...]],
) -> Event:
    fields = Fields(item, path, source, "event")
    at = fields.get("at", number(0, maximum=duration_s))
    kinds = [k for k in KINDS if fields.has(k)]
    if len(kinds) != 1:
        found = f"found {kinds}" if kinds else "found none"
        raise fields.error(None, f"an event has exactly one of {', '.join(KINDS)} ({found})")
    kind = kinds[0]
    body, body_path = fields.raw(kind), (*path, kind)
    line = source.line(path)
    event: Event
    if kind == "delete_vm":
        if not isinstance(body, str) or not body:
            raise source.error(body_path, "delete_vm names a VM: `delete_vm: vm1`")
        event = DeleteVm(at=at, vm=body, line=line)
    elif kind == "set_workload":
        event = _read_set_workload(Fields(body, body_path, source, kind), at, line)
    elif kind == "create_vm":
        vm_fields = Fields(body, body_path, source, kind)
        vm = read_vm(vm_fields, vm_fields.get("name", text), host_nodes)
        vm_fields.finish()
        event = CreateVms(at=at, vms=(vm,), line=line)
    elif kind == "create_vms":
        event = _read_create_vms(Fields(body, body_path, source, kind), at, line, host_nodes)
    else:
        event = _read_churn(Fields(body, body_path, source, kind), at, duration_s, line, host_nodes)
    fields.finish()
    return event


def _read_set_workload(fields: Fields, at: float, line: int) -> WorkloadChange:
    change = WorkloadChange(
        at=at,
        vm=fields.get("vm", text),
        memory_intensity=fields.optional("memory_intensity", number(0, maximum=1)),
        working_set_bytes=read_bytes(fields, "working_set", required=False),
        cpu_utilization=fields.optional("cpu_utilization", number(above=0, maximum=1)),
        guest_memory_bytes=read_bytes(fields, "guest_memory", required=False),
        line=line,
    )
    fields.finish()
    return change


def _read_create_vms(
    fields: Fields, at: float, line: int, host_nodes: Mapping[str, tuple[int, ...]]
) -> CreateVms:
    count = fields.get("count", integer(1))
    prefix = fields.get("prefix", text)
    parallel = fields.get("parallel", boolean, False)
    template = read_vm(fields, prefix, host_nodes)
    fields.finish()
    vms = tuple(_renamed(template, f"{prefix}-{i}") for i in range(count))
    return CreateVms(at=at, vms=vms, parallel=parallel, line=line)


def _read_churn(
    fields: Fields,
    at: float,
    duration_s: float,
    line: int,
    host_nodes: Mapping[str, tuple[int, ...]],
) -> Churn:
    count = fields.get("count", integer(1))
    prefix = fields.get("prefix", text)
    end_s = fields.get("end_s", number(at, maximum=duration_s), duration_s)
    lifetime = fields.get("mean_lifetime_s", number(above=0))
    raw_mix = fields.raw("mix")
    if not isinstance(raw_mix, list) or not raw_mix:
        raise fields.error("mix", "mix is a non-empty list of VM kinds with a weight each")
    mix = []
    for i, entry in enumerate(raw_mix):
        entry_fields = Fields(entry, (*fields.path, "mix", i), fields.source, "churn mix entry")
        weight = entry_fields.get("weight", number(above=0), 1.0)
        mix.append(ChurnSize(weight=weight, vm=read_vm(entry_fields, prefix, host_nodes)))
        entry_fields.finish()
    fields.finish()
    return Churn(
        at=at,
        end_s=end_s,
        count=count,
        prefix=prefix,
        mean_lifetime_s=lifetime,
        mix=tuple(mix),
        line=line,
    )


def _renamed(vm: VmSpec, name: str) -> VmSpec:
    return replace(vm, request=replace(vm.request, name=name))


def check_references(events: list[Event], source: Source) -> None:
    """Every VM name unique; set_workload/delete_vm only on a VM that exists by then."""
    memory: dict[str, int] = {}
    churned: set[str] = set()
    deleted: set[str] = set()
    for event in sorted(events, key=lambda e: e.at):  # stable: file order among equal times

        def fail(reason: str, line: int = event.line) -> ScenarioError:
            return ScenarioError(source.file, line, reason)

        if isinstance(event, CreateVms):
            created = [(vm.request.name, vm.request.memory_bytes) for vm in event.vms]
        elif isinstance(event, Churn):
            created = [(name, 0) for name in event.names()]
        else:
            created = []
        for name, size in created:
            if name in memory or name in churned:
                raise fail(f"a VM named {name!r} is created twice")
            if isinstance(event, Churn):
                churned.add(name)
            else:
                memory[name] = size
        if not isinstance(event, DeleteVm | WorkloadChange):
            continue
        if event.vm in churned:
            raise fail(f"{event.vm} belongs to a churn, whose VMs come and go at random")
        if event.vm not in memory:
            raise fail(f"no VM named {event.vm!r} exists at t={event.at:g}")
        if event.vm in deleted:
            raise fail(f"{event.vm} is already deleted at t={event.at:g}")
        if isinstance(event, DeleteVm):
            deleted.add(event.vm)
        elif event.working_set_bytes is not None and event.working_set_bytes > memory[event.vm]:
            raise fail(f"the working set exceeds the memory of {event.vm}")
