"""Executor: commands applied at most once per id, fenced by the leader's epoch.

Real AppliedLog (in memory or on disk) and real handlers registered the way the
agent registers its own; a handler counts its calls so "ran once" is observable.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from numaplane.hostagent.commands.applied_log import AppliedLog
from numaplane.hostagent.commands.executor import CommandFailed, Executor
from numaplane.v1 import link_pb2


class Counter:
    """A command handler that counts its calls (and can be made slow or failing)."""

    def __init__(self, *, delay: float = 0.0, fail: str = "") -> None:
        self.calls = 0
        self._delay = delay
        self._fail = fail

    async def __call__(self, cmd: link_pb2.Command) -> str:
        self.calls += 1
        if self._delay:
            await asyncio.sleep(self._delay)
        if self._fail:
            raise CommandFailed(self._fail)
        return f"balloon of {cmd.set_balloon.vm} set"


def balloon(command_id: str, epoch: int = 1) -> link_pb2.Command:
    return link_pb2.Command(
        id=command_id, epoch=epoch,
        set_balloon=link_pb2.SetBalloon(vm="vm1", target_bytes=1 << 30),
    )


def ping(command_id: str, epoch: int = 1, payload: str = "") -> link_pb2.Command:
    return link_pb2.Command(id=command_id, epoch=epoch, ping=link_pb2.Ping(payload=payload))


def executor(log: AppliedLog | None = None) -> tuple[Executor, list[int]]:
    reports: list[int] = []
    # `is None`, not `or`: an empty AppliedLog is falsy (it has a length).
    applied = AppliedLog() if log is None else log
    return Executor(applied, lambda: reports.append(1)), reports


async def test_second_execution_of_an_id_is_a_duplicate_with_the_stored_result() -> None:
    ex, _ = executor()
    handler = Counter()
    ex.register("set_balloon", handler)
    first = await ex.execute(balloon("c1"))
    second = await ex.execute(balloon("c1"))
    assert handler.calls == 1
    assert first.ok and not first.duplicate
    assert second.duplicate
    assert (second.id, second.ok, second.message, second.finished_at) == (
        first.id, first.ok, first.message, first.finished_at
    )


async def test_a_failed_command_is_not_retried_by_a_repeated_id() -> None:
    ex, _ = executor()
    handler = Counter(fail="vm1 has no balloon driver")
    ex.register("set_balloon", handler)
    first = await ex.execute(balloon("c1"))
    again = await ex.execute(balloon("c1"))
    assert not first.ok and first.message == "vm1 has no balloon driver"
    assert again.duplicate and not again.ok and again.message == first.message
    assert handler.calls == 1


async def test_concurrent_copies_of_one_id_run_the_handler_once() -> None:
    """A re-sent copy that arrives while the first still runs waits for its result."""
    ex, _ = executor()
    handler = Counter(delay=0.05)
    ex.register("set_balloon", handler)
    a, b = await asyncio.gather(ex.execute(balloon("c1")), ex.execute(balloon("c1")))
    assert handler.calls == 1
    assert sorted([a.duplicate, b.duplicate]) == [False, True]


async def test_command_from_an_older_epoch_is_refused_and_not_remembered() -> None:
    ex, _ = executor()
    handler = Counter()
    ex.register("set_balloon", handler)
    assert (await ex.execute(balloon("new", epoch=9))).ok
    assert ex.max_epoch == 9
    stale = await ex.execute(balloon("old", epoch=8))
    assert not stale.ok and not stale.duplicate
    assert "epoch 8 is older than 9" in stale.message
    assert handler.calls == 1
    # Not recorded: the id is not blocked, and the epoch did not move back.
    assert ex.max_epoch == 9
    again = await ex.execute(balloon("old", epoch=8))
    assert not again.duplicate and not again.ok


async def test_same_and_newer_epochs_are_accepted() -> None:
    ex, _ = executor()
    assert (await ex.execute(ping("a", epoch=5))).ok
    assert (await ex.execute(ping("b", epoch=5))).ok
    assert (await ex.execute(ping("c", epoch=6))).ok
    assert ex.max_epoch == 6


async def test_epoch_fence_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "applied.jsonl"
    first, _ = executor(AppliedLog(path))
    await first.execute(ping("a", epoch=12))
    restarted, _ = executor(AppliedLog(path))
    assert restarted.max_epoch == 12  # what the agent's next Hello reports as last_epoch
    refused = await restarted.execute(ping("b", epoch=11))
    assert not refused.ok and "older" in refused.message
    repeated = await restarted.execute(ping("a", epoch=12))
    assert repeated.duplicate and repeated.message == "pong"


async def test_unknown_kind_fails_with_its_name_and_is_remembered() -> None:
    ex, _ = executor()
    stop = link_pb2.Command(id="s1", epoch=1, stop_vm=link_pb2.StopVm(name="vm1"))
    result = await ex.execute(stop)
    assert not result.ok
    assert result.message == "unknown command kind 'stop_vm'"
    assert (await ex.execute(stop)).duplicate
    empty = await ex.execute(link_pb2.Command(id="e1", epoch=1))
    assert not empty.ok and empty.message == "unknown command kind None"


async def test_builtin_kinds_ping_and_report_now() -> None:
    ex, reports = executor()
    assert ex.kinds == ("ping", "report-now")
    pong = await ex.execute(ping("p1", payload="token-7"))
    assert pong.ok and pong.message == "pong token-7"
    now = await ex.execute(link_pb2.Command(id="r1", epoch=1, report_now=link_pb2.ReportNow()))
    assert now.ok and reports == [1]
    await ex.execute(link_pb2.Command(id="r1", epoch=1, report_now=link_pb2.ReportNow()))
    assert reports == [1], "a repeated report-now id does not ask again"


async def test_registered_kind_is_announced() -> None:
    ex, _ = executor()
    ex.register("set_balloon", Counter())
    assert "set-balloon" in ex.kinds


async def test_commands_on_different_vms_run_side_by_side_and_one_vm_in_order() -> None:
    """A long command on one VM holds up neither a ping nor another VM's command; two
    commands on one VM apply in arrival order."""
    ex = Executor(AppliedLog(), lambda: None)
    release = asyncio.Event()
    order: list[str] = []

    async def slow(cmd: link_pb2.Command) -> str:
        order.append(f"start {cmd.id}")
        if cmd.id == "long":
            await release.wait()
        order.append(f"end {cmd.id}")
        return "done"

    ex.register("set_balloon", slow)

    def on(vm: str, command_id: str) -> link_pb2.Command:
        cmd = link_pb2.Command(id=command_id, epoch=1)
        cmd.set_balloon.vm = vm
        cmd.set_balloon.target_bytes = 1 << 30
        return cmd

    long = asyncio.create_task(ex.execute(on("a", "long")))
    same_vm = asyncio.create_task(ex.execute(on("a", "after")))
    other_vm = asyncio.create_task(ex.execute(on("b", "other")))
    ping = link_pb2.Command(id="p", epoch=1)
    ping.ping.payload = "x"
    pong = await ex.execute(ping)
    other = await other_vm
    assert pong.ok and other.ok and not long.done() and not same_vm.done()
    release.set()
    assert (await long).ok and (await same_vm).ok
    assert order.index("end long") < order.index("start after")
