"""Balloon helpers for cluster tests: journal a SetBalloon, read a VM's observed balloon.

`journal_set_balloon` writes the command the way the reconciler journals every command
(controller/numaplane/controller/reconciler.py: a JournalEntry created under commands/<host>/<id>,
carrying the leader's fencing epoch); the replica holding the host's stream forwards it. Tests
use it where the operator's path (`numaplane balloon set`) is not what is under test.
"""

from __future__ import annotations

from numaplane.common.vm import BalloonState
from numaplane.common.wire import balloon_from_proto
from numaplane.controller.server import Controller
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import decode, encode
from numaplane.controller.store import ClusterStore
from numaplane.v1 import link_pb2, state_pb2
from tests.support.cluster import wait_for


async def journal_set_balloon(
    ctl: Controller, store: ClusterStore, host: str, vm: str, target_bytes: int
) -> str:
    """Journal a SetBalloon for `vm` on `host` once `ctl` leads; returns the command id."""

    async def leads() -> bool:
        return ctl.election.epoch > 0

    await wait_for(leads)
    cmd = link_pb2.Command(
        id=journal.new_command_id(), epoch=ctl.election.epoch,
        set_balloon=link_pb2.SetBalloon(vm=vm, target_bytes=target_bytes),
    )
    entry = journal.new_entry(host, cmd)
    created = await store.create(keyspace.command(host, cmd.id), encode(entry))
    assert created is not None, "a fresh command id already exists"
    return cmd.id


async def command_entry(store: ClusterStore, host: str, command_id: str
                        ) -> state_pb2.JournalEntry | None:
    kv = await store.get(keyspace.command(host, command_id))
    return None if kv is None else decode(state_pb2.JournalEntry, kv.value, key=kv.key)


async def observed_balloon(store: ClusterStore, vm: str) -> BalloonState | None:
    """The VM's balloon as the controller stored its agent's last report (None: unknown)."""
    kv = await store.get(keyspace.vm_status(vm))
    if kv is None:
        return None
    status = decode(state_pb2.VmStatus, kv.value, key=kv.key)
    return balloon_from_proto(status.observed.balloon)
