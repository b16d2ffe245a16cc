"""The agent's SetBalloon command: validate, find the VM's driver, set its target.

Registered on the Executor, which already fences by epoch and applies each command id
once; this handler only has to refuse what it cannot do with a message an operator
understands (the executor turns CommandFailed into a failed result).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from numaplane.hostagent.commands.executor import CommandFailed
from numaplane.hostagent.drivers.contract import Backend, BalloonError
from numaplane.v1 import link_pb2


class SetBalloonHandler:
    """`executor.register("set_balloon", SetBalloonHandler(backend, request_report))`."""

    def __init__(self, backend: Backend, request_report: Callable[[], None]) -> None:
        self._backend = backend
        self._request_report = request_report

    async def __call__(self, cmd: link_pb2.Command) -> str:
        vm, target = cmd.set_balloon.vm, cmd.set_balloon.target_bytes
        if not vm:
            raise CommandFailed("set-balloon names no VM")
        driver = await asyncio.to_thread(self._backend.balloon, vm)
        if driver is None:
            raise CommandFailed(f"VM {vm!r} is not on this host or has no balloon")
        try:
            await asyncio.to_thread(driver.set_target, target)
        except BalloonError as e:
            raise CommandFailed(str(e)) from None
        # The controller sees the new target in the next report, not a period later.
        self._request_report()
        return f"balloon of {vm} set to {target} bytes ({driver.name})"
