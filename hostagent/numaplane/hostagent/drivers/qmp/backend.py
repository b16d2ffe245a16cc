"""The `qmp` backend: QEMU guests run without libvirt, each known by its QMP socket.

The operator names every VM and its monitor socket (`--qmp-sockets web-1=/run/web-1.qmp`).
The QEMU behind a socket is found by the peer pid of the connection (SO_PEERCRED), so
nothing has to be guessed from command lines; the linux backend then observes that
process like any other (memory per node from numa_maps, vCPU threads and their CPUs, the
kernel's NUMA balancing mode and statistics), `sample_vcpus` re-reads where the vCPU
threads of the last observation are (no QMP call), and the VM's balloon is read and
moved over the same socket (`QmpBalloon`).

A socket nobody answers on is a VM that is not running: it is left out of the report,
as the linux backend leaves out an exited process, and logged once when it goes away.
Peer pids are in the agent's pid namespace, so this backend reads the agent's own /proc.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

from numaplane.common.topology import Topology
from numaplane.common.vm import HostObservation
from numaplane.hostagent.collectors.sysfs_topology import DEFAULT_PROC_ROOT, DEFAULT_SYSFS_ROOT
from numaplane.hostagent.collectors.vcpu_positions import VcpuThreads
from numaplane.hostagent.drivers.contract import Backend, BackendCapabilities, observe_balloon
from numaplane.hostagent.drivers.linux.backend import LinuxBackend, sample_vcpu_threads
from numaplane.hostagent.drivers.qmp import QmpClient, QmpConnectionError, QmpError
from numaplane.hostagent.drivers.qmp.balloon import QmpBalloon
from numaplane.hostagent.drivers.qmp.client import DEFAULT_TIMEOUT_S

log = logging.getLogger(__name__)


def parse_qmp_sockets(pairs: Iterable[str]) -> dict[str, Path]:
    """`["name=path", ...]` as a mapping; ValueError naming the bad pair otherwise."""
    sockets: dict[str, Path] = {}
    for pair in pairs:
        name, sep, path = pair.partition("=")
        name, path = name.strip(), path.strip()
        if not sep or not name or not path:
            raise ValueError(f"qmp socket {pair!r} is not NAME=PATH")
        if name in sockets:
            raise ValueError(f"qmp socket: VM {name!r} is named twice")
        sockets[name] = Path(path)
    return sockets


class QmpBackend(Backend):
    def __init__(
        self,
        sockets: Mapping[str, Path],
        *,
        sysfs_root: Path = DEFAULT_SYSFS_ROOT,
        proc_root: Path = DEFAULT_PROC_ROOT,
        stats_period_s: int = 5,
        timeout_s: float = DEFAULT_TIMEOUT_S,
    ) -> None:
        self._sysfs_root = sysfs_root
        self._proc_root = proc_root
        self._clients = {name: QmpClient(path, timeout_s=timeout_s)
                         for name, path in sockets.items()}
        self._balloons = {name: QmpBalloon(name, client, stats_period_s=stats_period_s)
                          for name, client in self._clients.items()}
        self._absent: set[str] = set()
        self._vcpu_threads: Mapping[str, VcpuThreads] = {}  # the last observation's

    def capabilities(self) -> BackendCapabilities:
        return BackendCapabilities(name="qmp", balloon=True)

    def topology(self) -> Topology:
        return self._linux({}).topology()

    def observe(self) -> HostObservation:
        """Each answering VM: the linux backend's view of its QEMU, QEMU's run state
        (running, paused, ...) and its balloon."""
        status = self._answering()
        linux = self._linux({name: pid for name, (pid, _) in status.items()})
        obs = linux.observe()
        self._vcpu_threads = linux.vcpu_threads
        vms = tuple(
            dataclasses.replace(
                vm, state=status[vm.name][1], balloon=observe_balloon(self._balloons[vm.name])
            )
            for vm in obs.vms
        )
        return dataclasses.replace(obs, vms=vms)

    def sample_vcpus(self) -> dict[str, tuple[int, ...]]:
        """Where the vCPU threads of the last observation are now (/proc only)."""
        return sample_vcpu_threads(self._vcpu_threads, self._proc_root)

    def balloon(self, vm: str) -> QmpBalloon | None:
        return self._balloons.get(vm)

    def close(self) -> None:
        for client in self._clients.values():
            client.close()

    def _linux(self, pids: Mapping[str, int]) -> LinuxBackend:
        return LinuxBackend(sysfs_root=self._sysfs_root, proc_root=self._proc_root,
                            vm_pids=pids)

    def _answering(self) -> dict[str, tuple[int, str]]:
        """(pid, run state) of the QEMU behind each socket that answers."""
        found: dict[str, tuple[int, str]] = {}
        for name, client in self._clients.items():
            try:
                found[name] = _pid_and_status(client)
            except QmpError as e:
                if name not in self._absent:
                    log.warning("VM %s is not reported: %s", name, e)
                    self._absent.add(name)
                continue
            if name in self._absent:
                log.info("VM %s answers on %s again", name, client.path)
                self._absent.discard(name)
        return found


def _pid_and_status(client: QmpClient) -> tuple[int, str]:
    """Ask QEMU for its run state, which also proves the connection is alive.

    A connection whose QEMU exited fails on first use and is closed; the second attempt
    connects afresh, to a QEMU that may have been restarted behind the same socket.
    """
    try:
        status = client.execute("query-status")
    except QmpConnectionError:
        status = client.execute("query-status")
    return client.peer_pid, str(status.get("status", "running"))
