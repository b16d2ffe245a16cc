"""The whole cluster as stored in etcd, read at one revision, decoded, with revisions kept.

Deciders (the placement loop, the rebalancer) need two things from one read: a consistent
picture (every host, VM, claim and command as of the same store revision, so that a claim
and the host status it corrects can never come from different moments), and the
mod_revision of every record, because whatever they write back is guarded by
compare-and-swap against exactly what they read. `read_snapshot` does one ranged read of
the keyspace and `snapshot_from_kvs` decodes it; an unreadable record is logged and
skipped, never fatal (one corrupt key must not stop placement for the whole cluster).

`numaplane.controller.state.views` turns a snapshot into the immutable `ClusterView` policies read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from google.protobuf.message import Message

from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.store.contract import KV, ClusterStore
from numaplane.v1.state_pb2 import (
    Claim,
    HostInfo,
    HostLedger,
    HostSchedule,
    HostStatus,
    JournalEntry,
    PolicyConfig,
    VmMove,
    VmPlacement,
    VmSpec,
    VmStatus,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound=Message)


@dataclass(frozen=True)
class Versioned(Generic[M]):
    """A decoded record and the mod_revision to guard a write of it with."""

    value: M
    mod_revision: int


@dataclass
class HostRecord:
    """Everything stored about one host; any part may be missing."""

    name: str
    info: HostInfo | None = None
    """Topology and capabilities from the agent's Hello (no topology, no placement)."""
    alive: bool = False
    """The lease-bound liveness key exists: the host's agent is connected."""
    status: HostStatus | None = None
    """Last material report: free memory per node, VM names, observed_at."""
    schedule: Versioned[HostSchedule] | None = None
    """The operator's cordon/drain record; absent means schedulable."""
    ledger: Versioned[HostLedger] | None = None
    """The claims guard (see controller.claims); absent until the first claim."""

    @property
    def cordoned(self) -> bool:
        return self.schedule is not None and self.schedule.value.cordoned

    @property
    def draining(self) -> bool:
        return self.schedule is not None and self.schedule.value.draining

    @property
    def state(self) -> str:
        """down | draining | cordoned | up — the first that applies."""
        if not self.alive:
            return "down"
        if self.draining:
            return "draining"
        if self.cordoned:
            return "cordoned"
        return "up"

    @property
    def schedulable(self) -> bool:
        """New VMs may go here: up, and neither cordoned nor draining."""
        return self.state == "up"

    @property
    def ledger_revision(self) -> int:
        """The ledger's mod_revision, 0 when absent (what a claim's CAS compares)."""
        return self.ledger.mod_revision if self.ledger is not None else 0


@dataclass
class VmRecord:
    """Everything stored about one VM name: intent, decision, observation."""

    name: str
    spec: Versioned[VmSpec] | None = None
    placement: Versioned[VmPlacement] | None = None
    status: Versioned[VmStatus] | None = None


@dataclass(frozen=True)
class ClusterSnapshot:
    revision: int
    """The store revision every record here reflects."""
    hosts: Mapping[str, HostRecord] = field(default_factory=dict)
    vms: Mapping[str, VmRecord] = field(default_factory=dict)
    claims: Mapping[tuple[str, str], Versioned[Claim]] = field(default_factory=dict)
    """(host, vm) -> claim."""
    commands: Mapping[str, Versioned[JournalEntry]] = field(default_factory=dict)
    """Command id -> journal entry."""
    policy: PolicyConfig | None = None
    """The cluster-wide policy knobs, when set."""
    moves: Mapping[str, Versioned[VmMove]] = field(default_factory=dict)
    """VM name -> the last move journaled for it (`moves/<vm>`): what the rebalancer's
    cool-downs count from and what the placement record follows once it is applied."""

    def claims_on(self, host: str) -> list[Versioned[Claim]]:
        return [c for (h, _), c in self.claims.items() if h == host]

    def claims_of(self, vm: str) -> list[Versioned[Claim]]:
        return [c for (_, v), c in self.claims.items() if v == vm]

    def max_host_cpus(self) -> int:
        """Most online CPUs any known host has (0 with no host)."""
        return max(
            (
                sum(len(n.cpus) for n in h.info.topology.nodes)
                for h in self.hosts.values()
                if h.info is not None
            ),
            default=0,
        )


async def read_snapshot(store: ClusterStore) -> ClusterSnapshot:
    """One consistent read of the whole keyspace."""
    kvs, revision = await store.get_prefix(keyspace.ROOT)
    return snapshot_from_kvs(kvs, revision)


def snapshot_from_kvs(kvs: Iterable[KV], revision: int) -> ClusterSnapshot:
    hosts: dict[str, HostRecord] = {}
    vms: dict[str, VmRecord] = {}
    claims: dict[tuple[str, str], Versioned[Claim]] = {}
    commands: dict[str, Versioned[JournalEntry]] = {}
    moves: dict[str, Versioned[VmMove]] = {}
    policy: PolicyConfig | None = None
    for kv in kvs:
        parts = keyspace.split(kv.key)
        if len(parts) == 3 and parts[0] == "hosts":
            _host_key(hosts.setdefault(parts[1], HostRecord(parts[1])), parts[2], kv)
        elif len(parts) == 3 and parts[0] == "vms":
            _vm_key(vms.setdefault(parts[1], VmRecord(parts[1])), parts[2], kv)
        elif len(parts) == 3 and parts[0] == "claims":
            if (c := _versioned(Claim, kv)) is not None:
                claims[(parts[1], parts[2])] = c
        elif len(parts) == 3 and parts[0] == "commands":
            if (e := _versioned(JournalEntry, kv)) is not None:
                commands[e.value.id or parts[2]] = e
        elif len(parts) == 2 and parts[0] == "ledgers":
            ledger = _versioned(HostLedger, kv)
            hosts.setdefault(parts[1], HostRecord(parts[1])).ledger = ledger
        elif len(parts) == 2 and parts[0] == "moves":
            if (m := _versioned(VmMove, kv)) is not None:
                moves[parts[1]] = m
        elif kv.key == keyspace.POLICY:
            found = _versioned(PolicyConfig, kv)
            policy = found.value if found is not None else None
    return ClusterSnapshot(
        revision=revision, hosts=hosts, vms=vms, claims=claims, commands=commands,
        policy=policy, moves=moves,
    )  # fmt: skip


def _host_key(rec: HostRecord, leaf: str, kv: KV) -> None:
    if leaf == "alive":
        rec.alive = True  # the key's existence is the fact, whatever its value
    elif leaf == "info":
        found = _versioned(HostInfo, kv)
        rec.info = found.value if found is not None else None
    elif leaf == "status":
        status = _versioned(HostStatus, kv)
        rec.status = status.value if status is not None else None
    elif leaf == "schedule":
        rec.schedule = _versioned(HostSchedule, kv)


def _vm_key(rec: VmRecord, leaf: str, kv: KV) -> None:
    if leaf == "spec":
        rec.spec = _versioned(VmSpec, kv)
    elif leaf == "placement":
        rec.placement = _versioned(VmPlacement, kv)
    elif leaf == "status":
        rec.status = _versioned(VmStatus, kv)
        if rec.status is not None and not rec.status.value.name:
            rec.status.value.name = rec.name


def _versioned(cls: type[M], kv: KV) -> Versioned[M] | None:
    try:
        return Versioned(decode(cls, kv.value, key=kv.key), kv.mod_revision)
    except RecordError as e:
        log.warning("skipping unreadable record: %s", e)
        return None
