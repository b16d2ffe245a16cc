"""Controller settings: defaults, then a TOML file, then NUMAPLANE_CONTROLLER_* variables,
then flags."""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass, field
from pathlib import Path


def _default_id() -> str:
    return f"{socket.gethostname().split('.')[0]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class ControllerSettings:
    controller_id: str = field(default_factory=_default_id)
    """Name of this replica (default: hostname, pid and a random suffix)."""
    admin_address: str = "127.0.0.1:7070"
    """Where the admin API (the CLI's endpoint) listens. Port 0 picks a free port."""
    link_address: str = "127.0.0.1:7071"
    """Where agents connect. Use 0.0.0.0:7071 to accept agents from other hosts."""
    etcd_endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    """etcd endpoints (HOST:PORT, comma-separated in the environment); tried in order."""
    etcd_namespace: str = ""
    """Prefix before every key, so that several clusters (or tests) can share an etcd."""
    etcd_ca_file: Path | None = None
    """CA bundle for TLS to etcd; setting it turns TLS on."""
    etcd_cert_file: Path | None = None
    """Client certificate for etcd mutual TLS."""
    etcd_key_file: Path | None = None
    """Client key for etcd mutual TLS."""
    etcd_username: str | None = None
    """etcd user (with etcd_password), when etcd has authentication on."""
    etcd_password: str | None = None
    """etcd password."""
    host_lease_ttl_s: int = 10
    """TTL of a host's liveness key: a host whose agent vanished shows `down` within it."""
    leader_lease_ttl_s: int = 10
    """TTL of the leader key: a dead leader is replaced within about this."""
    report_interval_s: float = 5.0
    """Report period asked of agents in Welcome."""
    status_min_interval_s: float = 2.0
    """At most one status write per host (and per VM) in this many seconds."""
    status_max_interval_s: float = 60.0
    """A host's status is rewritten at least this often, changed or not (freshness)."""
    material_memory_bytes: int = 64 * 1024 * 1024
    """A change of free or VM memory on a node smaller than this is not worth a write."""
    material_locality: float = 0.02
    """A change of a VM's locality smaller than this is not worth a write."""
    placement_start_timeout_s: float = 60.0
    """A VM start its host has not taken (or whose memory has not shown up) this long after
    the decision is given up: its claim is released and the placement fails (retried when
    the start never reached the host)."""
    placement_retry_s: float = 5.0
    """A placement that failed for lack of room on its host, or whose start never reached
    it, is decided again after this long; a failed stop is re-sent after it too."""
    balloon_period_s: float = 10.0
    """The balloon policy's period: each VM's balloon moves at most one step per period.
    MOM's policy engine runs every 10 s; an operator's `balloon set` is carried out at
    once, not at the next period."""
    journal_retention_s: float = 3600.0
    """Finished commands stay in the journal this long (for `numaplane events`, audits)."""
    keepalive_s: float = 5.0
    """gRPC keepalive ping period on the link; a hung agent is dropped in about twice this."""
    max_message_bytes: int = 4 * 1024 * 1024
    """Largest message accepted from an agent; larger ones end the stream with an error."""
    stop_grace_s: float = 2.0
    """How long a stopping replica waits for RPCs after telling agents to reconnect."""
    metrics_port: int = 0
    """Port of the Prometheus /metrics endpoint on 127.0.0.1 (0: off)."""
    monitor: bool = False
    """Start an aiomonitor console (127.0.0.1 only: it is an unauthenticated Python REPL)."""
    monitor_port: int = 20101
    """aiomonitor terminal port (its web UI and Python console take the next two)."""
    log_level: str = "INFO"
    """Python logging level."""
