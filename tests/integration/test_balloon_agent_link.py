"""The agent's side of balloons on the real path: sim agent -> gRPC -> controller -> etcd.

What the controller side relies on: every report carries each VM's full BalloonState,
the agent announces `set-balloon`, and a journaled SetBalloon is applied once, with a
refusal (a target above the VM's maximum) coming back as a failed command that changed
nothing.
"""

from __future__ import annotations

import pytest

from numaplane.common.units import GiB, MiB
from numaplane.controller.state import keyspace
from numaplane.controller.state.codec import decode
from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore
from numaplane.v1 import state_pb2
from tests.support.balloon import command_entry, journal_set_balloon, observed_balloon
from tests.support.cluster import (
    Controller,
    controller_settings,
    running_agents,
    sim_agent,
    wait_for,
)

pytestmark = pytest.mark.integration


async def test_reports_carry_balloons_and_set_balloon_is_applied_once(
    etcd: EmbeddedEtcd, store: EtcdStore
) -> None:
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with Controller(settings) as ctl, running_agents() as agents:
        agents.start(sim_agent("h0", settings, 0, vms=2))

        async def reported() -> bool:
            return await observed_balloon(store, "h0-vm0") is not None

        await wait_for(reported)
        balloon = await observed_balloon(store, "h0-vm0")
        assert balloon is not None
        assert balloon.driver == "sim"
        assert balloon.capabilities.guest_stats
        assert balloon.max_bytes == balloon.target_bytes == balloon.actual_bytes == 1 * GiB
        assert balloon.guest is not None and balloon.guest.available_bytes == 1 * GiB
        assert balloon.updated_at > 0
        info_kv = await store.get(keyspace.host_info("h0"))
        assert info_kv is not None
        info = decode(state_pb2.HostInfo, info_kv.value, key=info_kv.key)
        assert "set-balloon" in info.capabilities.command_kinds and info.capabilities.balloon

        async def finished(command_id: str) -> state_pb2.JournalEntry:
            async def done() -> bool:
                entry = await command_entry(store, "h0", command_id)
                return entry is not None and entry.state in ("applied", "failed")

            await wait_for(done)
            entry = await command_entry(store, "h0", command_id)
            assert entry is not None
            return entry

        applied = await finished(await journal_set_balloon(ctl, store, "h0", "h0-vm0", 512 * MiB))
        assert applied.state == "applied", applied.message
        assert not applied.duplicate

        async def shrunk() -> bool:
            b = await observed_balloon(store, "h0-vm0")
            return b is not None and b.target_bytes == b.actual_bytes == 512 * MiB

        await wait_for(shrunk)

        refused = await finished(await journal_set_balloon(ctl, store, "h0", "h0-vm0", 2 * GiB))
        assert refused.state == "failed"
        assert "'h0-vm0'" in refused.message and "above the VM's maximum" in refused.message
        agent = agents.agents["h0"]
        driver = agent.backend.balloon("h0-vm0")
        assert driver is not None and driver.state().target_bytes == 512 * MiB
