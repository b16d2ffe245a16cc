"""A scenario's events as one time-ordered list, with churns expanded under the run's seed.

A churn's arrivals are `count` uniform draws over [at, end_s] (a Poisson process
conditioned on its count), sorted, so `prefix-0` always arrives first; each VM's kind is
drawn from the mix by weight and it lives an exponential time of the given mean. A
departure after the end of the scenario is dropped. Generators are seeded from the run's
seed and the churn's prefix, so two churns in one scenario draw independently and the
same seed always gives the same timeline.
"""

from __future__ import annotations

import random
from dataclasses import replace

from numaplane.bench.events import Churn, CreateVms, DeleteVm, Event, TimedEvent, VmSpec


def timeline(events: tuple[Event, ...], seed: int, duration_s: float) -> list[TimedEvent]:
    """Concrete events sorted by time (file order among equal times, arrivals first)."""
    out: list[TimedEvent] = []
    for event in events:
        if isinstance(event, Churn):
            out.extend(expand_churn(event, seed, duration_s))
        else:
            out.append(event)
    return sorted(out, key=lambda e: e.at)


def expand_churn(churn: Churn, seed: int, duration_s: float) -> list[TimedEvent]:
    rng = random.Random(f"churn:{seed}:{churn.prefix}")
    arrivals = sorted(rng.uniform(churn.at, churn.end_s) for _ in range(churn.count))
    weights = [size.weight for size in churn.mix]
    out: list[TimedEvent] = []
    for name, at in zip(churn.names(), arrivals, strict=True):
        kind = rng.choices(churn.mix, weights=weights)[0]
        vm = _named(kind.vm, name)
        out.append(CreateVms(at=at, vms=(vm,), line=churn.line))
        leaves = at + rng.expovariate(1.0 / churn.mean_lifetime_s)
        if leaves <= duration_s:
            out.append(DeleteVm(at=leaves, vm=name, line=churn.line))
    return out


def _named(vm: VmSpec, name: str) -> VmSpec:
    return replace(vm, request=replace(vm.request, name=name))
