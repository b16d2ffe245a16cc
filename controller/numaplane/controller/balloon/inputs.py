"""From what etcd holds to the balloon policy's inputs, and to what an operator sees.

Pure (no I/O): the leader's balloon loop and the admin API both read balloons through
here, so `numaplane balloon show` shows the bounds the policy obeys. Rules, and why:

* A VM is balloon-controllable when its last status reports a known balloon. Its bounds
  come from its spec; a VM without one (an agent found it on its host) counts as
  reservation 0, limit = its maximum, 1000 shares, auto off — the operator can still
  set its balloon, which is then recorded in a `BalloonIntent` (`vms/<vm>/balloon`).
* A VM is moved by the policy when the cluster switch (`balloon.enabled`) and its own
  switch are on; otherwise only an operator's target (when set) is carried out.
* The *current* target is the one last observed, unless a SetBalloon command for the VM
  was applied after that observation (its status may not have been rewritten since: the
  controller rewrites a VM's status only on a material change), in which case it is the
  command's target. This is what keeps the loop from sending a target twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from numaplane.controller.policy.balloon import (
    DEFAULT_SHARES,
    BalloonHost,
    BalloonVm,
    GuestStats,
    NodeState,
)
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import RecordError, decode
from numaplane.controller.state.journal import OPEN_STATES
from numaplane.controller.state.snapshot import ClusterSnapshot, Versioned
from numaplane.controller.state.views import host_topology, memory_by_node, observed_running
from numaplane.controller.store.contract import KV
from numaplane.v1.state_pb2 import BalloonIntent, JournalEntry, VmSpec, VmStatus

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VmBalloon:
    """One VM's balloon as the controller knows it: observation, bounds, intent."""

    name: str
    status: VmStatus | None
    spec: Versioned[VmSpec] | None = None
    intent: Versioned[BalloonIntent] | None = None
    command: JournalEntry | None = None
    """The latest SetBalloon command journaled for this VM."""

    @property
    def host(self) -> str:
        return self.status.host if self.status is not None else ""

    @property
    def known(self) -> bool:
        return self.status is not None and self.status.observed.balloon.known

    @property
    def max_bytes(self) -> int:
        if self.status is not None:
            obs = self.status.observed
            if obs.balloon.max_bytes or obs.memory_bytes:
                return obs.balloon.max_bytes or obs.memory_bytes
        return self.spec.value.memory_bytes if self.spec is not None else 0

    @property
    def reservation_bytes(self) -> int:
        return self.spec.value.reservation_bytes if self.spec is not None else 0

    @property
    def limit_bytes(self) -> int | None:
        """None = the maximum (no spec, or a spec without a limit)."""
        if self.spec is None or not self.spec.value.limit_bytes:
            return None
        return self.spec.value.limit_bytes

    @property
    def ceiling_bytes(self) -> int:
        limit = self.limit_bytes
        return self.max_bytes if limit is None else min(limit, self.max_bytes)

    @property
    def shares(self) -> int:
        return (self.spec.value.shares if self.spec is not None else 0) or DEFAULT_SHARES

    @property
    def auto(self) -> bool:
        """The VM's own switch (the cluster's is in the policy record)."""
        if self.spec is not None:
            return self.spec.value.balloon_auto
        return self.intent is not None and self.intent.value.auto

    @property
    def requested_bytes(self) -> int:
        """The operator's target, 0 when none."""
        if self.spec is not None:
            return self.spec.value.balloon_target_bytes
        return self.intent.value.target_bytes if self.intent is not None else 0

    @property
    def deleted(self) -> bool:
        return self.spec is not None and self.spec.value.deleted

    @property
    def command_open(self) -> bool:
        return self.command is not None and self.command.state in OPEN_STATES

    @property
    def current_target(self) -> int:
        """The observed target, or an applied command's when the status predates it."""
        observed = self.status.observed.balloon.target_bytes if self.status is not None else 0
        cmd = self.command
        if (
            cmd is not None
            and cmd.state == "applied"
            and self.status is not None
            and cmd.finished_at >= self.status.observed_at
        ):
            return cmd.command.set_balloon.target_bytes
        return observed


def balloon_intents(kvs: Iterable[KV]) -> dict[str, Versioned[BalloonIntent]]:
    """VM name -> its BalloonIntent record, from KVs under `keyspace.VMS`."""
    out: dict[str, Versioned[BalloonIntent]] = {}
    for kv in kvs:
        parts = keyspace.split(kv.key)
        if len(parts) == 3 and parts[0] == "vms" and parts[2] == "balloon":
            try:
                out[parts[1]] = Versioned(decode(BalloonIntent, kv.value, key=kv.key),
                                          kv.mod_revision)
            except RecordError as e:
                log.warning("skipping unreadable record: %s", e)
    return out


def latest_balloon_commands(snapshot: ClusterSnapshot) -> dict[str, JournalEntry]:
    """VM name -> the newest SetBalloon command for it (ids sort by creation time)."""
    out: dict[str, JournalEntry] = {}
    for cid in sorted(snapshot.commands):
        entry = snapshot.commands[cid].value
        if entry.command.WhichOneof("kind") == "set_balloon":
            out[entry.command.set_balloon.vm] = entry
    return out


def vm_balloons(
    snapshot: ClusterSnapshot, intents: Mapping[str, Versioned[BalloonIntent]]
) -> dict[str, VmBalloon]:
    """Every VM with a status or a spec, by name."""
    commands = latest_balloon_commands(snapshot)
    out: dict[str, VmBalloon] = {}
    for name in sorted(snapshot.vms):
        rec = snapshot.vms[name]
        if rec.status is None and rec.spec is None:
            continue
        out[name] = VmBalloon(
            name=name,
            status=rec.status.value if rec.status is not None else None,
            spec=rec.spec,
            intent=intents.get(name),
            command=commands.get(name),
        )
    return out


def guest_stats(status: VmStatus) -> GuestStats | None:
    b = status.observed.balloon
    if not b.has_guest_stats:
        return None
    return GuestStats(
        free_bytes=b.guest_free_bytes,
        # libvirt's vocabulary, which every driver follows: usable = MemAvailable (what
        # the balloon may take without swapping), available = MemTotal.
        usable_bytes=b.guest_usable_bytes,
        swap_in_bytes=b.swap_in_bytes,
        swap_out_bytes=b.swap_out_bytes,
    )


def policy_vm(vm: VmBalloon, *, auto: bool) -> BalloonVm | None:
    """The policy's view of a VM; None when it has no known balloon."""
    if vm.status is None or not vm.known or vm.deleted:
        return None
    return BalloonVm(
        name=vm.name,
        max_bytes=vm.max_bytes,
        target_bytes=vm.current_target,
        actual_bytes=vm.status.observed.balloon.actual_bytes,
        memory_by_node=memory_by_node(vm.status),
        reservation_bytes=vm.reservation_bytes,
        limit_bytes=vm.limit_bytes,
        shares=vm.shares,
        auto=auto and vm.auto,
        guest=guest_stats(vm.status),
    )


def balloon_hosts(
    snapshot: ClusterSnapshot, vms: Mapping[str, VmBalloon], *, auto: bool
) -> tuple[BalloonHost, ...]:
    """The policy's input: every host that is up with a known topology, and its VMs.

    `auto` is the cluster switch: off, and every VM is in the input (its memory counts)
    but none may be moved.
    """
    hosts = []
    for name in sorted(snapshot.hosts):
        record = snapshot.hosts[name]
        topology = host_topology(record) if record.alive else None
        if topology is None:
            continue
        nodes = tuple(
            NodeState(n.id, n.memory_total_bytes, n.memory_free_bytes) for n in topology.nodes
        )
        members = []
        for vm in vms.values():
            if vm.host != name or observed_running(snapshot.vms.get(vm.name), name) is None:
                continue
            found = policy_vm(vm, auto=auto)
            if found is not None:
                members.append(found)
        hosts.append(BalloonHost(name=name, nodes=nodes, vms=tuple(members)))
    return tuple(hosts)
