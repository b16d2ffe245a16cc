"""The metrics with the host kernel's time on each VM's behalf taken off its throughput.

A policy's kernel step (automatic NUMA balancing, `numaplane.bench.autonuma`) spends some of
a VM's vCPU time in the host kernel — hinting faults, the page copies they trigger — and
says how much in `SimCluster.kernel_time_share`. `KernelTimeMetrics` records a tick as
`Metrics` does and then charges that share (`model.with_kernel_time`) to the VMs' figures
of the tick: each charged VM's running sum, and the tick's mean and 5th percentile.

It works on `Metrics`' results rather than inside the sampling, so the sampling code stays
as it is; a tick without charges (every policy without a kernel step) is left exactly as
`Metrics` recorded it. To find the tick's per-VM throughputs it samples the hosts again
(`host_sample.sample_host`, cached by the same keys as `Metrics`' cache), only on ticks
that carry charges.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from numaplane.bench.cluster import SimCluster
from numaplane.bench.host_sample import HostSample, sample_host
from numaplane.bench.metrics import Metrics, percentile
from numaplane.bench.model import with_kernel_time


@dataclass
class KernelTimeMetrics(Metrics):
    """`Metrics`, and each VM's kernel time charged to its throughput."""

    charged_s: float = 0.0
    """VM-seconds of throughput the charges took, summed over ticks and VMs (a check)."""
    _samples: dict[str, tuple[tuple[int, int], HostSample]] = field(default_factory=dict)

    def record(self, cluster: SimCluster) -> None:
        super().record(cluster)
        charges = cluster.kernel_time_share
        if not charges or not self.samples:
            return
        throughputs: list[float] = []
        for name, host in cluster.hosts.items():
            key = (host.version, cluster.workload_epoch[name])
            cached = self._samples.get(name)
            if cached is None or cached[0] != key:
                cached = (key, sample_host(cluster, host, self.params))
                self._samples[name] = cached
            for vm in cached[1].vms:
                share = charges.get(vm.name, 0.0)
                charged = with_kernel_time(vm.throughput, share)
                if share:
                    self.vm_sum[vm.name] -= vm.throughput - charged
                    self.charged_s += (vm.throughput - charged) * cluster.scenario.tick_s
                throughputs.append(charged)
        last = self.samples[-1]
        self.samples[-1] = replace(
            last,
            mean_throughput=sum(throughputs) / len(throughputs) if throughputs else 0.0,
            p5_throughput=percentile(throughputs, 5),
        )
