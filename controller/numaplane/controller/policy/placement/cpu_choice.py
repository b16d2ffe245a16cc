"""Which CPUs a placed VM's vCPUs may run on: the CPUs of its nodes, least loaded first.

The cluster view counts vCPUs per node (`VmView.cpu_nodes`), not per CPU, so a policy
cannot tell one CPU of a node from another; it gives the VM the whole nodes' CPUs and
leaves the choice of CPU within them to the host's scheduler (the simulator's is
least-loaded). This is also what the systems we compare against do: libxl turns its
node set into the vCPUs' soft affinity, and libvirt pins a `placement='auto'` domain to
the CPUs of numad's nodes. The order — least-loaded node first, then CPU id — is what an
agent that pins vCPU i to CPU i should follow.
"""

from __future__ import annotations

from collections.abc import Collection

from numaplane.controller.policy.placement.host_state import HostState


def cpus_of_nodes(host: HostState, nodes: Collection[int]) -> tuple[int, ...]:
    """Online CPUs of `nodes`: nodes by vCPU load per CPU (then id), CPUs by id within."""
    chosen = [host.by_id[n] for n in nodes if n in host.by_id]
    chosen.sort(key=lambda s: (s.vcpu_load / s.cpu_count if s.cpu_count else float("inf"), s.id))
    return tuple(cpu for s in chosen for cpu in s.cpus)


def all_cpus(host: HostState) -> tuple[int, ...]:
    """Every online CPU of the host, by id: an unbound VM's affinity."""
    return tuple(sorted(cpu for s in host.nodes for cpu in s.cpus))
