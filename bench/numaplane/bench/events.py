"""What happens in a scenario, as plain data: VMs requested, workloads changed, VMs deleted.

A scenario file's events parse into these; `Churn` is a generator that `numaplane.bench.timeline`
expands, with the run's seed, into timed `CreateVms` and `DeleteVm` events.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeVar

from numaplane.controller.policy.types import VmRequest

T = TypeVar("T")


@dataclass(frozen=True)
class Workload:
    """What a VM's guest does, as the performance model sees it."""

    memory_intensity: float = 0.5
    """Share of a vCPU's time spent waiting for memory when all of it is local (0..1)."""
    working_set_bytes: int | None = None
    """Memory the workload actively uses; None = all of the VM's memory."""
    cpu_utilization: float = 1.0
    """Share of the time its vCPUs are runnable (0..1]."""


@dataclass(frozen=True)
class VmSpec:
    request: VmRequest
    workload: Workload


@dataclass(frozen=True)
class CreateVms:
    at: float
    vms: tuple[VmSpec, ...]
    parallel: bool = False
    """Requested at the same instant: every decision sees the same cluster snapshot."""
    line: int = 0


@dataclass(frozen=True)
class WorkloadChange:
    at: float
    vm: str
    memory_intensity: float | None = None
    working_set_bytes: int | None = None
    cpu_utilization: float | None = None
    guest_memory_bytes: int | None = None
    """The guest's memory (its balloon target) changes: growing, it touches the new memory
    where its vCPUs run — how a VM's working set grows into memory it was not using."""
    line: int = 0

    def applied_to(self, old: Workload) -> Workload:
        """`old` with the fields this change sets replaced."""
        return Workload(
            memory_intensity=_given(self.memory_intensity, old.memory_intensity),
            working_set_bytes=_given(self.working_set_bytes, old.working_set_bytes),
            cpu_utilization=_given(self.cpu_utilization, old.cpu_utilization),
        )


@dataclass(frozen=True)
class DeleteVm:
    at: float
    vm: str
    line: int = 0


@dataclass(frozen=True)
class ChurnSize:
    """One kind of VM a churn draws, with its relative weight."""

    weight: float
    vm: VmSpec
    """A template; its request's name is replaced by the generated one."""


@dataclass(frozen=True)
class Churn:
    """`count` VMs arriving uniformly over [at, end_s], each living an exponential time."""

    at: float
    end_s: float
    count: int
    prefix: str
    mean_lifetime_s: float
    mix: tuple[ChurnSize, ...]
    line: int = 0

    def names(self) -> tuple[str, ...]:
        """Names are fixed by arrival rank (`prefix-0` arrives first), whatever the seed."""
        return tuple(f"{self.prefix}-{i}" for i in range(self.count))


TimedEvent = CreateVms | WorkloadChange | DeleteVm
Event = TimedEvent | Churn


def _given(new: T | None, old: T) -> T:
    return old if new is None else new
