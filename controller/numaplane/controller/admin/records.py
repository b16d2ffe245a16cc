"""Stored host and VM records, decoded and grouped by name, for the admin servicer.

The admin API reads whole prefixes (`hosts/`, `vms/`) and needs them per host. This
module turns a list of KVs into that shape once. A record that does not decode is
skipped and logged instead of failing the read: one corrupt key must not make
`numaplane hosts` fail for every host in the cluster.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TypeVar

from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.store.contract import KV
from numaplane.v1.state_pb2 import HostAlive, HostInfo, HostStatus, VmStatus

log = logging.getLogger(__name__)

M = TypeVar("M", HostAlive, HostInfo, HostStatus, VmStatus)


@dataclass
class HostRecords:
    """The three keys of one host; any of them may be missing."""

    name: str
    info: HostInfo | None = None
    alive: HostAlive | None = None
    """Present exactly while the host's lease-bound liveness key exists."""
    status: HostStatus | None = None

    @property
    def up(self) -> bool:
        return self.alive is not None


def group_hosts(kvs: Iterable[KV]) -> dict[str, HostRecords]:
    """Host name -> its records, from KVs under `keyspace.HOSTS`."""
    hosts: dict[str, HostRecords] = {}
    for kv in kvs:
        parts = keyspace.split(kv.key)
        if len(parts) != 3 or parts[0] != "hosts":
            continue
        _, name, leaf = parts
        rec = hosts.setdefault(name, HostRecords(name))
        if leaf == "alive":
            # The key's existence is what makes the host up; an unreadable value
            # must not turn a live host into a dead one.
            rec.alive = _decode_or_none(HostAlive, kv) or HostAlive()
        elif leaf == "info":
            rec.info = _decode_or_none(HostInfo, kv)
        elif leaf == "status":
            rec.status = _decode_or_none(HostStatus, kv)
    return hosts


def vm_statuses(kvs: Iterable[KV]) -> dict[str, VmStatus]:
    """VM name -> its observed status, from KVs under `keyspace.VMS`."""
    vms: dict[str, VmStatus] = {}
    for kv in kvs:
        parts = keyspace.split(kv.key)
        if len(parts) != 3 or parts[0] != "vms" or parts[2] != "status":
            continue
        status = _decode_or_none(VmStatus, kv)
        if status is not None:
            status.name = status.name or parts[1]
            vms[parts[1]] = status
    return vms


def vms_by_host(vms: Iterable[VmStatus]) -> dict[str, list[VmStatus]]:
    """Host name -> its VMs (by the host each VM was last observed on), sorted by name."""
    by_host: dict[str, list[VmStatus]] = {}
    for vm in sorted(vms, key=lambda v: v.name):
        by_host.setdefault(vm.host, []).append(vm)
    return by_host


def _decode_or_none(cls: type[M], kv: KV) -> M | None:
    try:
        return decode(cls, kv.value, key=kv.key)
    except RecordError as e:
        log.warning("skipping unreadable record: %s", e)
        return None
