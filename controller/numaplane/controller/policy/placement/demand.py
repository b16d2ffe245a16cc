"""How much memory a VM request needs where it lands: what it should get and what it must get.

A request carries three sizes (see `VmRequest`): the configured memory, the limit (the
most the VM may be given, at most the configured memory) and the reservation (what it
is guaranteed, at most the limit). A VM boots with its balloon at the limit, so the
limit — or the configured memory when there is no limit — is what placement tries to
find room for and claims (`target_bytes`). The reservation is the floor below which the
balloon policy never squeezes it, so a host whose nodes can hold the reservation but not
the target can still take the VM when memory is overcommitted (`floor_bytes`).
"""

from __future__ import annotations

from dataclasses import dataclass

from numaplane.controller.policy.types import VmRequest


@dataclass(frozen=True)
class MemoryDemand:
    target_bytes: int
    """Memory the VM boots with: its limit, else its configured size."""
    floor_bytes: int
    """Memory it is guaranteed (its reservation), never more than the target."""

    @classmethod
    def of(cls, request: VmRequest) -> MemoryDemand:
        target = request.memory_bytes
        if request.limit_bytes is not None:
            target = min(target, request.limit_bytes)
        target = max(target, 0)
        return cls(target_bytes=target, floor_bytes=min(max(request.reservation_bytes, 0), target))
