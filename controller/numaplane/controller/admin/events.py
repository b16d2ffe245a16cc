"""Translate store changes into the cluster events an operator follows.

The store speaks in keys (`hosts/h/alive` was deleted); `numaplane events` speaks in
facts (`host-down h`). `EventTranslator` keeps just enough memory of what it has seen
to tell a VM that appeared from one that changed, and a command whose state moved
from one that was merely re-written. Re-lists after a compaction replay every key as
a put; unchanged values are recognised and produce nothing, so replays are silent.

Kinds: host-up, host-down, host-updated, vm-appeared, vm-updated, vm-gone,
command-pending, command-sent, command-applied, command-failed. The servicer adds one
marker, `synced`, after the initial snapshot (see numaplane.controller.admin.servicer).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from numaplane.common.units import format_size
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.store.contract import KV, WatchEvent
from numaplane.v1.admin_pb2 import Event
from numaplane.v1.state_pb2 import HostAlive, HostInfo, JournalEntry, VmStatus

log = logging.getLogger(__name__)

Clock = Callable[[], float]

SYNCED = "synced"


class EventTranslator:
    """Stateful: feed it every store change under keyspace.ROOT, in revision order."""

    def __init__(self, clock: Clock = time.time) -> None:
        self._clock = clock
        self._values: dict[str, str] = {}
        """Last value seen per relevant key: suppresses no-op puts from re-lists."""
        self._vms: dict[str, VmStatus] = {}
        self._commands: dict[str, str] = {}
        """Journal key -> last state seen."""

    def prime(self, kvs: Iterable[KV]) -> list[Event]:
        """Learn the current state; return it as events (the `include_existing` replay).

        Hosts first (up or down, whichever they are), then VMs, then commands by
        creation time, so a reader sees the cluster in a sensible order.
        """
        hosts: dict[str, dict[str, KV]] = {}
        vms: list[KV] = []
        commands: list[KV] = []
        for kv in kvs:
            parts = keyspace.split(kv.key)
            if len(parts) == 3 and parts[0] == "hosts":
                hosts.setdefault(parts[1], {})[parts[2]] = kv
            elif len(parts) == 3 and parts[0] == "vms" and parts[2] == "status":
                vms.append(kv)
            elif len(parts) == 3 and parts[0] == "commands":
                commands.append(kv)
        events: list[Event] = []
        for name in sorted(hosts):
            events.extend(self._prime_host(name, hosts[name]))
        for kv in vms:
            events.extend(self.translate(WatchEvent("put", kv.key, kv.value, kv.mod_revision)))
        command_events: list[Event] = []
        for kv in commands:
            command_events.extend(
                self.translate(WatchEvent("put", kv.key, kv.value, kv.mod_revision))
            )
        events.extend(sorted(command_events, key=lambda e: e.at))
        return events

    def _prime_host(self, name: str, keys: dict[str, KV]) -> list[Event]:
        events: list[Event] = []
        info = keys.get("info")
        if info is not None:
            self._values[info.key] = info.value
        alive = keys.get("alive")
        if alive is not None:
            events.extend(self.translate(WatchEvent("put", alive.key, alive.value, 0)))
        elif info is not None:
            events.append(self._event("host-down", name, "", f"host {name} is down"))
        return events

    def translate(self, ev: WatchEvent) -> list[Event]:
        """The events (usually zero or one) that one store change means."""
        parts = keyspace.split(ev.key)
        if len(parts) != 3:
            return []
        if ev.type == "put" and self._values.get(ev.key) == ev.value:
            return []
        handler = _HANDLERS.get((parts[0], parts[2] if parts[0] != "commands" else "*"))
        if handler is None:
            return []
        try:
            events = handler(self, parts, ev)
        except RecordError as e:
            log.warning("event stream skips an unreadable record: %s", e)
            return []
        if ev.type == "put":
            self._values[ev.key] = ev.value
        else:
            self._values.pop(ev.key, None)
        return events

    def _host_alive(self, parts: tuple[str, ...], ev: WatchEvent) -> list[Event]:
        host = parts[1]
        if ev.type == "delete":
            if ev.key not in self._values:
                return []
            return [self._event("host-down", host, "", f"host {host} is down (liveness lost)")]
        if ev.key in self._values:
            return []  # still up; a new lease or controller, not a new fact
        alive = _decode_lenient(HostAlive, ev)
        by = f" via controller {alive.controller_id}" if alive.controller_id else ""
        return [self._event("host-up", host, "", f"host {host} is up{by}", alive.since)]

    def _host_info(self, parts: tuple[str, ...], ev: WatchEvent) -> list[Event]:
        if ev.type == "delete":
            return []
        info = decode(HostInfo, ev.value, key=ev.key)
        nodes = info.topology.nodes
        cpus = sum(len(n.cpus) for n in nodes)
        memory = format_size(sum(n.memory_total_bytes for n in nodes))
        backend = info.capabilities.backend or "unknown backend"
        msg = (
            f"host {parts[1]}: {_count(len(nodes), 'NUMA node')}, {_count(cpus, 'CPU')}, {memory}, "
            f"{backend}, agent {info.agent_version or '?'}"
        )
        return [self._event("host-updated", parts[1], "", msg, info.connected_at)]

    def _vm_status(self, parts: tuple[str, ...], ev: WatchEvent) -> list[Event]:
        name = parts[1]
        if ev.type == "delete":
            old = self._vms.pop(name, None)
            host = old.host if old is not None else ""
            where = f" from host {host}" if host else ""
            return [self._event("vm-gone", host, name, f"vm {name} is gone{where}")]
        status = decode(VmStatus, ev.value, key=ev.key)
        old = self._vms.get(name)
        self._vms[name] = status
        obs = status.observed
        nodes = ",".join(str(nm.node) for nm in obs.memory_by_node if nm.bytes > 0) or "-"
        summary = (
            f"{_count(obs.vcpus, 'vCPU')}, {format_size(obs.memory_bytes)} on nodes {nodes}, "
            f"locality {obs.locality:.2f}"
        )
        if old is None:
            return [
                self._event(
                    "vm-appeared",
                    status.host,
                    name,
                    f"vm {name} on host {status.host}: {summary}",
                    status.observed_at,
                )
            ]
        moved = f"moved from host {old.host} to {status.host}; " if old.host != status.host else ""
        return [
            self._event(
                "vm-updated", status.host, name, f"vm {name}: {moved}{summary}", status.observed_at
            )
        ]

    def _journal(self, parts: tuple[str, ...], ev: WatchEvent) -> list[Event]:
        if ev.type == "delete":
            self._commands.pop(ev.key, None)
            return []  # journal pruning, not a cluster event
        entry = decode(JournalEntry, ev.value, key=ev.key)
        if self._commands.get(ev.key) == entry.state or not entry.state:
            return []
        self._commands[ev.key] = entry.state
        kind = (entry.command.WhichOneof("kind") or "command").replace("_", "-")
        at = {"sent": entry.sent_at, "applied": entry.finished_at, "failed": entry.finished_at}
        msg = f"{kind} {entry.id or parts[2]} on host {entry.host or parts[1]}: {entry.state}"
        if entry.message:
            msg += f" ({entry.message})"
        return [
            self._event(
                f"command-{entry.state}",
                entry.host or parts[1],
                "",
                msg,
                at.get(entry.state) or entry.created_at,
            )
        ]

    def _event(self, kind: str, host: str, vm: str, message: str, at: float = 0.0) -> Event:
        return Event(at=at or self._clock(), kind=kind, host=host, vm=vm, message=message)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def _decode_lenient(cls: type[HostAlive], ev: WatchEvent) -> HostAlive:
    """The alive key's existence is the fact; its value only decorates the message."""
    try:
        return decode(cls, ev.value, key=ev.key)
    except RecordError:
        return cls()


_Handler = Callable[[EventTranslator, tuple[str, ...], WatchEvent], list[Event]]

_HANDLERS: dict[tuple[str, str], _Handler] = {
    ("hosts", "alive"): EventTranslator._host_alive,
    ("hosts", "info"): EventTranslator._host_info,
    ("vms", "status"): EventTranslator._vm_status,
    ("commands", "*"): EventTranslator._journal,
}
