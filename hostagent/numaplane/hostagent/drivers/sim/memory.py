"""The host's memory per node, and the ways a VM's pages move: touch, release, migrate, move.

`NodeMemory` is the only code that changes a node's used bytes or a VM's bytes per node,
and it changes both together, so that for every node `free + sum of VMs' bytes = total`
holds after every operation (the invariant the property tests check).
"""

from __future__ import annotations

from collections.abc import Sequence

from numaplane.hostagent.drivers.sim.allocation import (
    allocation_order,
    nearest_first,
    split_proportionally,
)
from numaplane.hostagent.drivers.sim.spec import SimHostSpec
from numaplane.hostagent.drivers.sim.vm import SimVm


class NodeMemory:
    def __init__(self, spec: SimHostSpec) -> None:
        self.total = {i: n.memory_bytes for i, n in enumerate(spec.nodes)}
        self.used = dict.fromkeys(self.total, 0)
        self.distances: Sequence[Sequence[int]] = spec.distances

    def free(self, node: int) -> int:
        return self.total[node] - self.used[node]

    def free_by_node(self) -> dict[int, int]:
        return {n: self.total[n] - self.used[n] for n in self.total}

    def _move_in(self, vm: SimVm, node: int, nbytes: int) -> None:
        self.used[node] += nbytes
        vm.memory_by_node[node] = vm.memory_by_node.get(node, 0) + nbytes

    def _move_out(self, vm: SimVm, node: int, nbytes: int) -> None:
        self.used[node] -= nbytes
        left = vm.memory_by_node[node] - nbytes
        if left:
            vm.memory_by_node[node] = left
        else:
            del vm.memory_by_node[node]

    def touch(self, vm: SimVm, nbytes: int, touch_nodes: Sequence[int]) -> int:
        """First-touch `nbytes` new pages from vCPUs on `touch_nodes` (one entry per vCPU).

        The pages are split over the vCPUs' nodes in proportion to the vCPUs there, and
        each share is taken along `allocation_order`. Returns the bytes actually placed:
        less than asked when every node the binding allows is full.
        """
        weights: dict[int, int] = {}
        for n in touch_nodes:
            weights[n] = weights.get(n, 0) + 1
        placed = 0
        for touch_node, amount in sorted(split_proportionally(nbytes, weights).items()):
            free = self.free_by_node()
            for node in allocation_order(touch_node, vm.binding, self.total, self.distances, free):
                if amount == 0:
                    break
                take = min(amount, free[node])
                if take > 0:
                    self._move_in(vm, node, take)
                    amount -= take
                    placed += take
        return placed

    def release(self, vm: SimVm, nbytes: int) -> None:
        """Give `nbytes` of a VM's pages back to the host, from each node in proportion."""
        for node, amount in split_proportionally(nbytes, vm.memory_by_node).items():
            self._move_out(vm, node, amount)

    def release_all(self, vm: SimVm) -> None:
        for node, amount in list(vm.memory_by_node.items()):
            self._move_out(vm, node, amount)

    def outside(self, vm: SimVm, nodes: frozenset[int]) -> int:
        """Bytes of the VM on nodes not in `nodes`."""
        return sum(b for n, b in vm.memory_by_node.items() if n not in nodes)

    def migrate(self, vm: SimVm, to_nodes: frozenset[int], budget: int) -> int:
        """Move up to `budget` bytes of the VM into `to_nodes`; returns the bytes moved.

        Sources are emptied largest first; each page goes to the target node nearest to
        where it was (most free first among equals), as long as a target has room.
        """
        moved = 0
        sources = sorted(
            (n for n in vm.memory_by_node if n not in to_nodes),
            key=lambda n: (-vm.memory_by_node[n], n),
        )
        for src in sources:
            free = self.free_by_node()
            for dst in nearest_first(src, to_nodes, self.distances, free):
                amount = min(budget - moved, vm.memory_by_node.get(src, 0), free[dst])
                if amount > 0:
                    self._move_out(vm, src, amount)
                    self._move_in(vm, dst, amount)
                    moved += amount
            if moved >= budget:
                break
        return moved

    def move(self, vm: SimVm, src: int, dst: int, nbytes: int) -> int:
        """Move up to `nbytes` of the VM's pages from node `src` to node `dst` now: as many
        as the VM has on `src` and `dst` has room for. Returns the bytes moved."""
        amount = min(nbytes, vm.memory_by_node.get(src, 0), self.free(dst))
        if amount <= 0 or src == dst:
            return 0
        self._move_out(vm, src, amount)
        self._move_in(vm, dst, amount)
        return amount
