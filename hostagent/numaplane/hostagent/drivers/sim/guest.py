"""The guest's side of a VM's memory: balloon, working set, and the swap they cause.

Sizes (bytes):
- `memory_bytes` M: the VM's configured memory.
- `size_bytes` A: memory the guest has now, M minus what its balloon holds ("actual" in
  libvirt's balloon statistics); it moves toward `target_bytes` at the host's balloon rate.
- `working_set_bytes` W: memory the guest's workload actively uses.

Inside the guest, `used = min(W, A)`; the part of the working set that does not fit,
`max(0, W - A)`, is in the guest's swap. Whatever else the host has backed is page
cache, and the rest is free. Every byte pushed out to swap (by inflating the balloon or
growing the working set past A) is added to `swapped_out_total_bytes`; every byte of it
brought back because the balloon deflated is added to `swapped_in_total_bytes` (the
working set is in use, so it comes back as soon as there is room).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class GuestMemory:
    memory_bytes: int
    working_set_bytes: int
    target_bytes: int
    size_bytes: int
    swapped_out_total_bytes: int = 0
    swapped_in_total_bytes: int = 0

    @classmethod
    def fresh(cls, memory_bytes: int, working_set_bytes: int | None = None) -> GuestMemory:
        ws = memory_bytes if working_set_bytes is None else working_set_bytes
        return cls(
            memory_bytes=memory_bytes,
            working_set_bytes=min(ws, memory_bytes),
            target_bytes=memory_bytes,
            size_bytes=memory_bytes,
        )

    @property
    def used_bytes(self) -> int:
        return min(self.working_set_bytes, self.size_bytes)

    @property
    def swap_bytes(self) -> int:
        """The working set that does not fit in the guest's memory."""
        return max(0, self.working_set_bytes - self.size_bytes)

    def breakdown(self, resident_bytes: int) -> tuple[int, int, int]:
        """(used, cache, free) inside the guest, given what the host backs."""
        backed = min(resident_bytes, self.size_bytes)
        cache = max(0, backed - self.used_bytes)
        return self.used_bytes, cache, self.size_bytes - self.used_bytes - cache

    def set_target(self, target_bytes: int) -> None:
        if not 0 < target_bytes <= self.memory_bytes:
            raise ValueError(f"balloon target {target_bytes} must be in (0, {self.memory_bytes}]")
        self.target_bytes = target_bytes

    def set_working_set(self, working_set_bytes: int) -> None:
        if not 0 <= working_set_bytes <= self.memory_bytes:
            raise ValueError(f"working set {working_set_bytes} must be in [0, {self.memory_bytes}]")
        before = self.swap_bytes
        self.working_set_bytes = working_set_bytes
        self.swapped_out_total_bytes += max(0, self.swap_bytes - before)

    def step(self, dt: float, rate_bytes_per_s: float | None) -> bool:
        """Move the balloon toward its target for `dt` seconds; True when the size changed."""
        gap = self.target_bytes - self.size_bytes
        if gap == 0:
            return False
        limit = abs(gap) if rate_bytes_per_s is None else int(rate_bytes_per_s * dt)
        change = max(-limit, min(limit, gap))
        if change == 0:
            return False
        before = self.swap_bytes
        self.size_bytes += change
        self.swapped_out_total_bytes += max(0, self.swap_bytes - before)
        self.swapped_in_total_bytes += max(0, before - self.swap_bytes)
        return True
