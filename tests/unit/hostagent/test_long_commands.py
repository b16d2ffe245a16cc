"""A migration interrupted by an agent restart finishes once and is not repeated.

Real pieces: the executor and its applied log on disk, `LongCommands` with its
in-progress record on disk, the sim mover and the simulated host (which, like a
hypervisor, outlives the agent). "Restarting the agent" is what a stop does — the
executor's task is cancelled and `LongCommands.close()` stops the mover between two
steps — then building every agent-side object again from the same state directory.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path

from numaplane.common.units import GiB
from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.executor import Executor
from numaplane.hostagent.commands.long_commands import LongCommands
from numaplane.hostagent.commands.moves import register_move_handlers
from numaplane.hostagent.drivers.sim import (
    MemoryBinding,
    SimBackend,
    SimHost,
    SimHostSpec,
    SimNodeSpec,
)
from numaplane.hostagent.drivers.sim.mover import SimMover
from numaplane.v1 import link_pb2


class Ticking:
    def __init__(self, step: float) -> None:
        self.now, self.step = 0.0, step

    def __call__(self) -> float:
        self.now += self.step
        return self.now


class AgentSide:
    """What an agent process holds, rebuilt from `state_dir` as a restart would."""

    def __init__(self, backend: SimBackend, clock: Callable[[], float], state_dir: Path) -> None:
        self.progress: list[link_pb2.CommandProgress] = []
        self.reports = 0
        self.applied = AppliedLog(state_dir / "applied-commands.jsonl")
        self.executor = Executor(self.applied, self._report)
        mover = SimMover(backend, poll_s=0.005, clock=clock)
        self.long = LongCommands(
            mover, state_dir, send_progress=self.progress.append, request_report=self._report,
            max_epoch=lambda: self.applied.max_epoch, progress_interval_s=0.0,
        )  # fmt: skip
        register_move_handlers(self.executor, mover, self.long, self._report)
        self.executor.on_recorded(self.long.forget)

    def _report(self) -> None:
        self.reports += 1


def migrate(command_id: str = "c1", epoch: int = 3) -> link_pb2.Command:
    return link_pb2.Command(
        id=command_id,
        epoch=epoch,
        migrate_memory=link_pb2.MigrateMemory(
            vm="vm", to_nodes=[1], rate_mib_s=256, rebind_vcpus=True
        ),
    )


def sim_host() -> SimHost:
    spec = SimHostSpec(
        name="h",
        nodes=(SimNodeSpec(cpus=2, memory_bytes=4 * GiB),) * 2,
        distances=((10, 21), (21, 10)),
    )
    sim = SimHost(spec, seed=1)
    sim.start_vm("vm", 1, GiB, cpus=sim.spec.cpus_of_node(1), binding=MemoryBinding.strict([0]))
    return sim


async def wait_until(probe: Callable[[], bool]) -> None:
    async with asyncio.timeout(30):  # a liveness bound for a hung test, not a measurement
        while not probe():  # noqa: ASYNC110 - the state is a thread's, not an Event
            await asyncio.sleep(0.005)


async def test_an_interrupted_migration_resumes_once_and_the_resent_id_is_not_repeated(
    tmp_path: Path,
) -> None:
    sim = sim_host()
    clock = Ticking(0.05)  # 1 GiB at 256 MiB/s: 4 simulated seconds, 80 polls
    backend = SimBackend(sim, clock=clock)

    first = AgentSide(backend, clock, tmp_path)
    running = asyncio.create_task(first.executor.execute(migrate()))
    await wait_until(lambda: any(p.bytes_done > 0 for p in first.progress))
    running.cancel()  # the agent stops: its session's worker goes first...
    await asyncio.gather(running, return_exceptions=True)
    await first.long.close()  # ...then the long command, between two steps

    partial = sim.vm("vm").memory_by_node
    assert 0 < partial.get(1, 0) < GiB, "stopped in the middle"
    assert first.applied.get("c1") is None, "not recorded as applied: it did not finish"
    stored = json.loads((tmp_path / "in-progress.json").read_text())
    assert list(stored) == ["c1"] and stored["c1"]["ok"] is None

    second = AgentSide(backend, clock, tmp_path)  # the restarted agent
    assert second.long.resume(lambda cid: second.applied.get(cid) is not None) == ["c1"]
    # The controller sends the id again (its journal entry is still `sent`).
    result = await second.executor.execute(migrate())
    assert result.ok and not result.duplicate
    assert second.long.started == 1, "the re-sent id attached to the resumed migration"
    assert sim.vm("vm").memory_by_node == {1: GiB}
    assert sim.vm("vm").migrated_bytes_total == GiB, "every byte moved exactly once"
    assert second.applied.get("c1") is not None
    assert json.loads((tmp_path / "in-progress.json").read_text()) == {}
    assert second.progress and second.progress[-1].fraction == 1.0

    again = await second.executor.execute(migrate())  # yet another copy of the id
    assert again.duplicate and again.message == result.message
    assert second.long.started == 1


async def test_a_migration_finished_before_the_id_comes_back_is_answered_not_rerun(
    tmp_path: Path,
) -> None:
    sim = sim_host()
    clock = Ticking(0.05)
    backend = SimBackend(sim, clock=clock)
    first = AgentSide(backend, clock, tmp_path)
    running = asyncio.create_task(first.executor.execute(migrate()))
    await wait_until(lambda: any(p.bytes_done > 0 for p in first.progress))
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await first.long.close()

    second = AgentSide(backend, clock, tmp_path)
    second.long.resume(lambda cid: False)
    await wait_until(lambda: not second.long.running)  # finished on its own
    outcome = second.long.record("c1")
    assert outcome is not None and outcome.ok, "the outcome is kept until the id is recorded"

    third = AgentSide(backend, clock, tmp_path)  # restarted again before the id came back
    assert third.long.resume(lambda cid: third.applied.get(cid) is not None) == []
    result = await third.executor.execute(migrate())
    assert result.ok and result.message == outcome.message
    assert third.long.started == 0
    assert sim.vm("vm").migrated_bytes_total == GiB


async def test_a_record_of_a_superseded_epoch_is_not_resumed(tmp_path: Path) -> None:
    sim = sim_host()
    clock = Ticking(0.05)
    backend = SimBackend(sim, clock=clock)
    first = AgentSide(backend, clock, tmp_path)
    running = asyncio.create_task(first.executor.execute(migrate(epoch=3)))
    await wait_until(lambda: any(p.bytes_done > 0 for p in first.progress))
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await first.long.close()
    # A newer leader's command was applied since (epoch 5).
    ping = link_pb2.Command(id="p", epoch=5, ping=link_pb2.Ping())
    second = AgentSide(backend, clock, tmp_path)
    await second.executor.execute(ping)
    assert second.long.resume(lambda cid: False) == []
    assert json.loads((tmp_path / "in-progress.json").read_text()) == {}


async def test_progress_is_sent_and_set_vcpu_affinity_is_one_quick_call(tmp_path: Path) -> None:
    sim = sim_host()
    clock = Ticking(0.2)
    side = AgentSide(SimBackend(sim, clock=clock), clock, tmp_path)
    result = await side.executor.execute(migrate())
    assert result.ok, result.message
    fractions = [p.fraction for p in side.progress]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    assert all(p.id == "c1" for p in side.progress)
    pin = link_pb2.Command(
        id="a1", epoch=3, set_vcpu_affinity=link_pb2.SetVcpuAffinity(vm="vm", cpus=[0, 1])
    )
    done = await side.executor.execute(pin)
    assert done.ok and set(sim.vm("vm").allowed_cpus) == {0, 1}
    bad = link_pb2.Command(id="a2", epoch=3, set_vcpu_affinity=link_pb2.SetVcpuAffinity(vm="vm"))
    refused = await side.executor.execute(bad)
    assert not refused.ok and "at least one CPU" in refused.message
