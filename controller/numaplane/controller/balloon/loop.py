"""The leader's balloon loop: desired balloon targets in etcd -> SetBalloon commands.

Level-triggered. Every `balloon_period_s` it reads the cluster at one revision, runs
the balloon policy (`numaplane.controller.policy.balloon`, with the knobs of the policy record)
over the VMs whose auto is on, and for every other VM takes the operator's target; a
VM whose desired target differs from its current one (`balloon_view.VmBalloon
.current_target`) gets a SetBalloon command in the journal, which the replica holding
the host's stream forwards and the agent applies once (its id) under the leader's
fencing epoch.

Fencing: a leader that has lost its lease without noticing yet may journal one more
command; the agent refuses it once it has accepted a command of the newer epoch, and
the new leader's loop, level-triggered, converges on what is stored either way.

One command per VM at a time: while a VM's last SetBalloon is pending or sent, nothing
new is journaled for it (the policy runs again on the next period with what the agent
then reports). A command that failed is retried with the same target only after
`retry_periods` periods, so a refusing agent is not flooded.

Operator changes (`balloon set`, `balloon auto`) wake the loop at once through a watch
on the VM records; such a wake-up only carries out operator targets, so that the policy
still moves a balloon at most one step per period.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from numaplane.common.tasks import race
from numaplane.common.units import format_size
from numaplane.controller.balloon.inputs import (
    VmBalloon,
    balloon_hosts,
    balloon_intents,
    vm_balloons,
)
from numaplane.controller.policy.balloon import HostBalloonPlan, NumaplaneBalloonPolicy
from numaplane.controller.policy.config import PolicyError, balloon_settings, decode_policy
from numaplane.controller.state import journal, keyspace
from numaplane.controller.state.codec import encode
from numaplane.controller.state.snapshot import snapshot_from_kvs
from numaplane.controller.store import ClusterStore, StoreError
from numaplane.v1 import link_pb2

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Desired:
    target_bytes: int
    why: str


class BalloonLoop:
    def __init__(
        self,
        store: ClusterStore,
        epoch: Callable[[], int],
        period_s: float,
        *,
        retry_periods: int = 6,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._epoch = epoch
        self.period_s = period_s
        self._retry_s = retry_periods * period_s
        self._clock = clock
        self._kick = asyncio.Event()
        self.last_plans: tuple[HostBalloonPlan, ...] = ()
        """The policy's last plans, with their reasons (for logs and inspection)."""

    async def run(self) -> None:
        await race(self._periodic(), self._watch_intent())

    async def _periodic(self) -> None:
        last_policy_run = -float("inf")
        while True:
            now = time.monotonic()
            run_policy = now - last_policy_run >= self.period_s
            if run_policy:
                last_policy_run = now
            try:
                await self.reconcile_once(run_policy=run_policy)
            except StoreError as e:
                log.warning("balloon loop: %s", e)
            self._kick.clear()
            wait = max(0.0, last_policy_run + self.period_s - time.monotonic())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._kick.wait()

    async def _watch_intent(self) -> None:
        """Wake the loop when a VM's spec or balloon intent changes (an operator acted)."""
        async for ev in self._store.watch_with_relist(keyspace.VMS):
            if ev.key.endswith(("/balloon", "/spec")):
                self._kick.set()

    async def reconcile_once(self, *, run_policy: bool = True) -> int:
        """One pass; returns the number of commands journaled."""
        kvs, revision = await self._store.get_prefix(keyspace.ROOT)
        snapshot = snapshot_from_kvs(kvs, revision)
        vms = vm_balloons(snapshot, balloon_intents(kvs))
        policy_kv = next((kv for kv in kvs if kv.key == keyspace.POLICY), None)
        try:
            policy = decode_policy(policy_kv.value if policy_kv is not None else None)
        except PolicyError as e:
            log.warning("balloon loop: %s; using the defaults", e)
            policy = decode_policy(None)
        enabled = policy.balloon.enabled
        desired: dict[str, Desired] = {}
        for vm in vms.values():
            if vm.requested_bytes and not (vm.auto and enabled) and vm.known and not vm.deleted:
                target = min(max(vm.requested_bytes, vm.reservation_bytes), vm.ceiling_bytes)
                desired[vm.name] = Desired(target, "the operator's target")
        if run_policy and enabled:
            hosts = balloon_hosts(snapshot, vms, auto=True)
            self.last_plans = NumaplaneBalloonPolicy(balloon_settings(policy)).decide(hosts)
            for plan in self.last_plans:
                if plan.decisions:
                    log.info("balloons on %s (%s): %s", plan.host, plan.state,
                             "; ".join(plan.reasons))
                for d in plan.decisions:
                    desired[d.vm] = Desired(d.target_bytes, "; ".join(d.reasons))
        journaled = 0
        for name in sorted(desired):
            if await self._ensure(vms[name], desired[name]):
                journaled += 1
        return journaled

    async def _ensure(self, vm: VmBalloon, want: Desired) -> bool:
        """Journal a SetBalloon for `vm` unless it is already there or on its way."""
        if vm.command_open or not vm.host or want.target_bytes == vm.current_target:
            return False
        last = vm.command
        if (
            last is not None
            and last.state == "failed"
            and last.command.set_balloon.target_bytes == want.target_bytes
            and self._clock() - last.finished_at < self._retry_s
        ):
            return False
        cmd = link_pb2.Command(id=journal.new_command_id(), epoch=self._epoch())
        cmd.set_balloon.vm = vm.name
        cmd.set_balloon.target_bytes = want.target_bytes
        entry = journal.new_entry(vm.host, cmd)
        entry.message = want.why[:1000]
        if await self._store.create(keyspace.command(vm.host, cmd.id), encode(entry)) is None:
            return False
        log.info("journaled SetBalloon %s -> %s on %s (command %s, epoch %d): %s", vm.name,
                 format_size(want.target_bytes), vm.host, cmd.id, cmd.epoch, want.why)
        return True
