"""How the controller reaches etcd: endpoints, namespace, credentials, TLS, timeouts."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class EtcdSettings:
    endpoints: tuple[str, ...] = ("127.0.0.1:2379",)
    """etcd client endpoints as host:port (an http:// or https:// prefix is accepted),
    tried in order on connect and whenever the current one stops answering."""
    namespace: str = ""
    """Prefix added to every key on the way in and removed on the way out, so that
    several clusters (or tests) can share one etcd without seeing each other."""
    timeout_s: float = 5.0
    """Deadline of every single etcd request, and of each endpoint's first answer."""
    username: str | None = None
    """etcd user for authentication; with `password`, or neither."""
    password: str | None = None
    """Password of `username`."""
    ca_file: Path | None = None
    """CA bundle that signed etcd's server certificate; setting it turns TLS on."""
    cert_file: Path | None = None
    """Client certificate for etcd's --client-cert-auth (with `key_file`); turns TLS on."""
    key_file: Path | None = None
    """Private key of `cert_file`."""
    lease_ttl_s: int = 10
    """TTL of the leases the controller grants (host liveness, leadership); the
    keep-alive refreshes every third of it. etcd may raise it to its minimum."""
    keepalive_s: float = 10.0
    """gRPC keep-alive ping period: a hung etcd is noticed after about twice this.
    etcd refuses pings more often than --grpc-keepalive-min-time (5 s by default)."""
    reconnect_backoff_s: tuple[float, ...] = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0)
    """Pauses between attempts of a broken watch to reconnect; the last one repeats."""
