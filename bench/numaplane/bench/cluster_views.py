"""Turning simulated hosts into the views policies read (`numaplane.controller.policy.types`).

A host's view depends only on the host's state, which carries a version that changes
whenever anything in it changes; views are cached by that version, so a tick in which
nothing happened on 49 of 50 hosts rebuilds one view, not fifty. Claims are laid on top
per request (they change between two decisions of one parallel burst).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from numaplane.bench.events import VmSpec
from numaplane.common.locality import vcpus_by_node
from numaplane.controller.policy.types import HostView, VmView
from numaplane.hostagent.drivers.sim import SimHost


class HostViewCache:
    """The latest HostView of every simulated host, rebuilt only when the host changed."""

    def __init__(self) -> None:
        self._views: dict[str, tuple[int, HostView]] = {}
        self._cpu_nodes: dict[str, dict[int, int]] = {}

    def cpu_nodes(self, host: SimHost) -> dict[int, int]:
        """CPU id -> node id of a host."""
        found = self._cpu_nodes.get(host.name)
        if found is None:
            spec = host.spec
            found = {c: n for n in spec.node_ids for c in spec.cpus_of_node(n)}
            self._cpu_nodes[host.name] = found
        return found

    def view(
        self,
        host: SimHost,
        specs: Mapping[str, VmSpec],
        claims: Mapping[int, int] | None = None,
    ) -> HostView:
        cached = self._views.get(host.name)
        if cached is None or cached[0] != host.version:
            cpu_nodes = self.cpu_nodes(host)
            every_node = frozenset(cpu_nodes.values())
            vms = tuple(
                VmView(
                    name=s.name,
                    host=host.name,
                    vcpus=s.vcpus,
                    memory_bytes=s.memory_bytes,
                    memory_by_node=s.memory_by_node,
                    cpu_nodes=frozenset(cpu_nodes[c] for c in s.allowed_cpus),
                    running_nodes=frozenset(cpu_nodes[c] for c in s.vcpu_cpus),
                    vcpus_by_node=vcpus_by_node(s.vcpu_cpus, cpu_nodes.get),
                    floating=(
                        frozenset(cpu_nodes[c] for c in s.allowed_cpus) >= every_node
                        and s.binding.bound_nodes is None
                    ),
                    group=specs[s.name].request.group if s.name in specs else None,
                    bound_nodes=s.binding.bound_nodes,
                    pinned_host=s.name in specs and specs[s.name].request.host is not None,
                    pinned_nodes=s.name in specs and specs[s.name].request.nodes is not None,
                    guest_bytes=s.guest_memory_bytes,
                )
                for s in host.vms()
                if s.state == "running"
            )
            cached = (host.version, HostView(name=host.name, topology=host.topology(), vms=vms))
            self._views[host.name] = cached
        if claims:
            return replace(cached[1], claimed_by_node=dict(claims))
        return cached[1]
