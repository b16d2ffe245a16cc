"""The placement loop's clock, driven by hand on real etcd: a start its host never takes
is cancelled (never sent later) and its claim released; the VM is retried after the
backoff and placed again."""

from __future__ import annotations

import pytest

from numaplane.common.units import GiB
from numaplane.controller.placement.lifecycle import RETRY_MARK, PlacementTimings
from numaplane.controller.placement.loop import PlacementLoop
from numaplane.controller.placement.validation import validate_create
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import read_snapshot
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import admin_pb2
from tests.support.admin_cluster import add_host, topology

pytestmark = pytest.mark.integration


async def test_a_start_never_taken_times_out_is_cancelled_and_retried(store: EtcdStore) -> None:
    # A host that is up (its lease held) but whose agent never takes a command.
    await add_host(store, "h", topology(2), free={0: 16 * GiB, 1: 16 * GiB},
                   lease=await store.grant_lease(30))
    spec = validate_create(
        admin_pb2.CreateVmRequest(name="v", vcpus=2, memory_bytes=4 * GiB),
        await read_snapshot(store), now=0.0,
    )
    await store.create(keyspace.vm_spec("v"), encode(spec))
    now = [1000.0]
    loop = PlacementLoop(store, lambda: 3, PlacementTimings(start_timeout_s=60, retry_s=5),
                         clock=lambda: now[0])

    result = await loop.pass_once()
    assert result.claimed == ["v"]
    assert (await loop.pass_once()).timed  # a start in flight waits on the clock
    snap = await read_snapshot(store)
    placement = snap.vms["v"].placement
    assert placement is not None and placement.value.state == "starting"
    first_command = placement.value.command_id
    assert snap.commands[first_command].value.state == "pending"
    assert set(snap.claims) == {("h", "v")}

    now[0] += 30  # within the timeout: nothing changes
    result = await loop.pass_once()
    assert not (result.claimed or result.released)

    now[0] += 31  # past it: the never-sent start is cancelled, the claim released
    result = await loop.pass_once()
    assert result.released == ["v"]
    snap = await read_snapshot(store)
    placement = snap.vms["v"].placement
    assert placement is not None and placement.value.state == "failed"
    assert placement.value.reason.startswith(RETRY_MARK + "h did not take the start command")
    entry = snap.commands[first_command].value
    assert entry.state == "failed" and entry.message.startswith("cancelled: ")
    assert not snap.claims

    now[0] += 4  # before the backoff: still failed
    assert not (await loop.pass_once()).claimed
    now[0] += 2  # after it: decided and claimed again, with a new command
    result = await loop.pass_once()
    assert result.claimed == ["v"]
    snap = await read_snapshot(store)
    placement = snap.vms["v"].placement
    assert placement is not None and placement.value.attempts == 2
    assert placement.value.command_id != first_command
    assert set(snap.claims) == {("h", "v")}
