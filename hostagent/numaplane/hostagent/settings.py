"""Agent settings: defaults, then a TOML file, then NUMAPLANE_AGENT_* variables, then flags."""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from pathlib import Path


def _default_host() -> str:
    return socket.gethostname().split(".")[0] or "localhost"


@dataclass(frozen=True)
class AgentSettings:
    host: str = field(default_factory=_default_host)
    """Name of this host in the cluster (default: the short hostname)."""
    controller: str = "127.0.0.1:7071"
    """Address of a controller's agent link (HOST:PORT); the agent reconnects to it."""
    backend: str = "sim"
    """Where observations come from: sim | linux | libvirt | qmp (linux plus QEMU's monitor)."""
    report_interval_s: float = 5.0
    """Seconds between periodic reports (a report-now command sends one at once)."""
    vcpu_samples_per_report: int = 5
    """About how many times per report interval the agent reads where each VM's vCPU
    threads run (linux, libvirt, qmp: one stat file per vCPU thread, no memory read):
    every interval / this many seconds, and the report's own reading. Each report's
    vCPU-time per node (`vcpu_nodes`, on which locality is computed) is their mean.
    1 or less: the report's own reading alone."""
    sim_topology: Path | None = None
    """YAML/JSON host description for the sim backend (default: a 2-node host)."""
    sim_seed: int = 1
    """Seed of the simulated host: same seed, same VMs and placements."""
    sim_vms: int = 4
    """How many VMs the sim backend starts with."""
    sysfs_root: Path = Path("/sys")
    """Root of sysfs for the linux backend (tests point it at fixture trees)."""
    proc_root: Path = Path("/proc")
    """Root of procfs for the linux backend."""
    vm_process_pattern: str = r"^qemu-system-.*"
    """linux backend: regex on a process's comm that marks it as a VM."""
    libvirt_uri: str = "qemu:///system"
    """libvirt backend (`backend = "libvirt"`): the connection URI the agent observes and
    starts domains through (qemu:///system, xen:///system; test:///default in tests)."""
    libvirt_qemu_pid_dir: Path = Path("/run/libvirt/qemu")
    """libvirt backend: where libvirt writes each domain's QEMU pid file (`<name>.pid`);
    a domain's memory per node and vCPU placement are read from that process in /proc.
    Session libvirt (qemu:///session) keeps them under $XDG_RUNTIME_DIR/libvirt/qemu/run."""
    qmp_sockets: tuple[str, ...] = ()
    """qmp backend: this host's VMs as NAME=PATH pairs, PATH being the QMP UNIX socket of
    the QEMU that runs NAME (started with -qmp unix:PATH,server=on,wait=off); comma-separated
    in the environment and on the command line."""
    balloon_stats_period_s: int = 5
    """Seconds between the memory statistics a balloon driver asks guests for (libvirt's
    stats period, QEMU's guest-stats-polling-interval); 0 leaves them as configured."""
    state_dir: Path | None = None
    """Where the agent remembers applied command ids across restarts (None: memory only)."""
    keepalive_s: float = 5.0
    """gRPC keepalive ping period; a hung controller is detected in about twice this."""
    backoff_initial_s: float = 0.5
    """First reconnect delay; doubles per failed attempt (full jitter)."""
    backoff_max_s: float = 30.0
    """Longest reconnect delay."""
    max_message_bytes: int = 16 * 1024 * 1024
    """Largest message on the link, either direction."""
    monitor: bool = False
    """Start an aiomonitor console (127.0.0.1 only: it is an unauthenticated Python REPL)."""
    monitor_port: int = 20111
    """aiomonitor terminal port (its web UI and Python console take the next two)."""
    log_level: str = "INFO"
    """Python logging level."""
