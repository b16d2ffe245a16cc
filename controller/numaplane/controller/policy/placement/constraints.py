"""Host-level rules every placement policy obeys, each failure named in words.

A policy may model a toolstack that knows nothing of NUMA, but none of them may put a VM
on a host that is down, cordoned or draining, ignore the host or nodes an operator
pinned, or break the VM's group rule. `HostFilter` is built once per request (it indexes
which hosts run members of the VM's group) and answers per host with None or a reason.

Group rules are hard, as Nova's ServerGroup(Anti)AffinityFilter are: `affinity` keeps a
group on the hosts that already run members (any host for the first member),
`anti-affinity` keeps members on distinct hosts. A VM that has been placed but not yet
observed counts only if the caller lists it in `HostView.vms`; the reconciler and the
benchmark harness do, so parallel requests see each other.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from numaplane.common.topology import NumaNode
from numaplane.controller.policy.types import ClusterView, HostView, VmRequest


@dataclass(frozen=True)
class Rejection:
    kind: str
    """The rule that failed, the same for every host it fails on (for summaries)."""
    text: str
    """The rule and this host's particulars."""


@dataclass(frozen=True)
class HostFilter:
    request: VmRequest
    group_hosts: frozenset[str]
    """Hosts running at least one other member of the request's group."""

    @classmethod
    def for_request(cls, request: VmRequest, cluster: ClusterView) -> HostFilter:
        hosts: set[str] = set()
        if request.group is not None:
            for h in cluster.hosts:
                if any(vm.group == request.group and vm.name != request.name for vm in h.vms):
                    hosts.add(h.name)
        return cls(request=request, group_hosts=frozenset(hosts))

    def rejection(self, host: HostView) -> Rejection | None:
        """Why `host` cannot take the VM at all, or None."""
        r = self.request
        if r.host is not None and host.name != r.host:
            return Rejection("not the requested host", f"not the requested host {r.host}")
        if not host.schedulable:
            return Rejection("not schedulable", f"not schedulable (state {host.state})")
        if r.group is not None and r.affinity == "anti-affinity" and host.name in self.group_hosts:
            return Rejection(
                "anti-affinity", f"anti-affinity: already runs a member of group {r.group}"
            )
        if (
            r.group is not None
            and r.affinity == "affinity"
            and self.group_hosts
            and host.name not in self.group_hosts
        ):
            return Rejection("affinity", f"affinity: runs no member of group {r.group}")
        if r.nodes is not None:
            missing = [n for n in r.nodes if not host.topology.has_node(n)]
            if missing:
                return Rejection(
                    "requested nodes missing",
                    f"requested nodes {_ids(missing)} are not on this host",
                )
        if r.nodes is None:
            cpus = host.topology.cpu_count
        else:
            cpus = sum(len(n.cpus) for n in self.allowed_nodes(host))
        if cpus < r.vcpus:
            return Rejection("too few CPUs", f"{cpus} usable CPUs for {r.vcpus} vCPUs")
        return None

    def allowed_nodes(self, host: HostView) -> list[NumaNode]:
        """The host's nodes the request may use (all, or the pinned ones)."""
        if self.request.nodes is None:
            return list(host.topology.nodes)
        wanted = set(self.request.nodes)
        return [n for n in host.topology.nodes if n.id in wanted]

    def unknown_host(self, cluster: ClusterView) -> str | None:
        """The reason to give up at once when the pinned host does not exist."""
        if self.request.host is not None and cluster.host(self.request.host) is None:
            return f"requested host {self.request.host} is not in the cluster"
        return None


def _ids(nodes: Iterable[int]) -> str:
    return ",".join(str(n) for n in nodes)
