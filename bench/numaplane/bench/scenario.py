"""A benchmark scenario: hosts, a simulated duration, and the events that happen in it.

    name: xen-kernbench-8
    seed: 1
    duration_s: 600          # simulated seconds
    tick_s: 5                # report / reconcile period
    hosts:
      - name: h              # with count > 1, names get a suffix -0, -1, ...
        count: 1
        nodes: [{cpus: 8, memory_gib: 6}, {cpus: 8, memory_gib: 6}]
        distances: [[10, 21], [21, 10]]
    events: [...]            # see bench/numaplane/bench/scenario_events.py and bench/README.md

Loading is strict: an unknown key, an impossible value or an event naming a VM that does
not exist is a `ScenarioError` with the file and line. Hosts are read by the sim
backend's own parser (`host_spec_from_dict`), so a host is written here exactly as in an
agent's `--sim-topology` file.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from numaplane.bench.events import Event
from numaplane.bench.model import ModelParams
from numaplane.bench.scenario_events import read_events
from numaplane.bench.scenario_source import (
    Fields,
    ScenarioError,
    Source,
    integer,
    load_yaml,
    number,
    text,
)
from numaplane.common.units import GiB
from numaplane.hostagent.drivers.sim import SimHostSpec, SimSpecError, host_spec_from_dict

SCENARIO_DIR = Path(__file__).parent / "scenarios"

__all__ = ["Scenario", "ScenarioError", "find_scenario", "load_scenario", "parse_scenario"]


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    duration_s: float
    tick_s: float
    hosts: tuple[SimHostSpec, ...]
    events: tuple[Event, ...]
    model: ModelParams = field(default_factory=ModelParams)
    migration_bandwidth_bytes_per_s: float = 1.0 * GiB
    """Speed of one NUMA memory move (migrate_pages), bytes per simulated second."""
    description: str = ""
    file: str = ""


def load_scenario(path: Path | str) -> Scenario:
    """A scenario from a file path, or the name of one in bench/scenarios."""
    found = find_scenario(path)
    return parse_scenario(found.read_text(), str(found))


def find_scenario(name_or_path: Path | str) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path
    bundled = SCENARIO_DIR / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    known = ", ".join(p.stem for p in bundled_scenarios())
    raise ScenarioError(str(name_or_path), 0, f"no such file or bundled scenario ({known})")


def bundled_scenarios() -> list[Path]:
    return sorted(SCENARIO_DIR.glob("*.yaml"))


def parse_scenario(text_: str, file: str = "<scenario>") -> Scenario:
    data, source = load_yaml(text_, file)
    fields = Fields(data, (), source, "scenario")
    duration = fields.get("duration_s", number(above=0))
    tick = fields.get("tick_s", number(above=0), 5.0)
    if tick > duration:
        raise fields.error("tick_s", "tick_s is longer than the whole scenario")
    hosts = _read_hosts(fields.raw("hosts"), source)
    host_nodes = {h.name: h.node_ids for h in hosts}
    scenario = Scenario(
        name=fields.get("name", text),
        seed=fields.get("seed", integer(0), 0),
        duration_s=duration,
        tick_s=tick,
        hosts=hosts,
        events=read_events(fields.raw("events"), source, duration, host_nodes),
        model=_read_model(fields.raw("model"), source) if fields.has("model") else ModelParams(),
        migration_bandwidth_bytes_per_s=fields.get(
            "migration_bandwidth_gib_s", number(above=0), 1.0
        )
        * GiB,
        description=fields.get("description", str, ""),
        file=file,
    )
    fields.finish()
    return scenario


def _read_hosts(data: Any, source: Source) -> tuple[SimHostSpec, ...]:
    if not isinstance(data, list) or not data:
        raise source.error(("hosts",), "hosts must be a non-empty list")
    hosts: list[SimHostSpec] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data):
        path = ("hosts", i)
        if not isinstance(item, dict):
            raise source.error(path, f"a host must be a mapping, got {item!r}")
        body = dict(item)
        count = body.pop("count", 1)
        try:
            count = integer(1)(count)
        except ValueError as e:
            raise source.error((*path, "count"), f"count: {e}") from None
        base = body.get("name")
        for k in range(count):
            name = f"{base}-{k}" if count > 1 and isinstance(base, str) else None
            try:
                spec = host_spec_from_dict(body, name=name)
            except SimSpecError as e:
                raise source.error((*path, *e.path), f"host: {e}") from None
            if spec.name in seen:
                raise source.error(path, f"host name {spec.name!r} is used twice")
            seen[spec.name] = i
            hosts.append(spec)
    return tuple(hosts)


def _read_model(data: Any, source: Source) -> ModelParams:
    fields = Fields(data, ("model",), source, "model")
    values = {
        f.name: fields.get(f.name, number(above=0), f.default)
        for f in dataclasses.fields(ModelParams)
        if isinstance(f.default, float)
    }
    fields.finish()
    return ModelParams(**values)
