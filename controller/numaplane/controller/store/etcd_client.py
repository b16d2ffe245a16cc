"""An aetcd client for one endpoint that can speak TLS, with our gRPC channel options.

aetcd's `Client.connect()` always builds an insecure channel and knows one endpoint.
`EtcdClient` overrides `connect()` to build `grpc.aio.secure_channel` when TLS is
configured (and a plain channel otherwise), keeps the rest of aetcd (its request
builders and KV methods), and exposes the raw stubs that the watch and the lease
keep-alive drive themselves. `EtcdConnection` (etcd_connection.py) picks the endpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aetcd
import grpc
from aetcd import rpc

from numaplane.controller.store.contract import StoreError
from numaplane.controller.store.settings import EtcdSettings

_MAX_MESSAGE_BYTES = 64 << 20
"""A get_prefix of a large cluster can exceed gRPC's 4 MiB default answer size."""


@dataclass(frozen=True)
class Endpoint:
    """One etcd client endpoint: the gRPC target and whether it wants TLS."""

    target: str
    """host:port, as gRPC takes it."""
    tls: bool

    @classmethod
    def parse(cls, text: str, settings: EtcdSettings) -> Endpoint:
        """ "host:port", "http://host:port" or "https://host:port"."""
        scheme, sep, rest = text.strip().partition("://")
        if not sep:
            scheme, rest = "", scheme
        if scheme not in ("", "http", "https"):
            raise StoreError(f"etcd endpoint {text!r}: unknown scheme {scheme!r}")
        rest = rest.rstrip("/")
        host, colon, port = rest.rpartition(":")
        if not colon or not host or not port.isdigit():
            raise StoreError(f"etcd endpoint {text!r} must be host:port")
        wants_tls = scheme == "https" or (
            settings.ca_file is not None or settings.cert_file is not None
        )
        return cls(target=rest, tls=wants_tls)


def channel_options(settings: EtcdSettings) -> dict[str, Any]:
    """Keep-alive that notices a hung etcd, and short reconnect backoff.

    etcd enforces --grpc-keepalive-min-time (5 s) and does not permit pings without an
    open stream, so keep-alive pings are sent only while a call is open.
    """
    ms = int(settings.keepalive_s * 1000)
    return {
        "grpc.keepalive_time_ms": ms,
        "grpc.keepalive_timeout_ms": ms,
        "grpc.http2.ping_timeout_ms": ms,
        "grpc.keepalive_permit_without_calls": 0,
        "grpc.http2.max_pings_without_data": 0,
        "grpc.max_receive_message_length": _MAX_MESSAGE_BYTES,
        "grpc.initial_reconnect_backoff_ms": 100,
        "grpc.min_reconnect_backoff_ms": 100,
        "grpc.max_reconnect_backoff_ms": 1000,
    }


def tls_credentials(settings: EtcdSettings) -> grpc.ChannelCredentials:
    """Channel credentials from the settings' PEM files (system roots without ca_file)."""
    if (settings.cert_file is None) != (settings.key_file is None):
        raise StoreError("etcd TLS: cert_file and key_file must be given together")
    try:
        ca = settings.ca_file.read_bytes() if settings.ca_file else None
        cert = settings.cert_file.read_bytes() if settings.cert_file else None
        key = settings.key_file.read_bytes() if settings.key_file else None
    except OSError as e:
        raise StoreError(f"etcd TLS: cannot read {e.filename}: {e.strerror}") from None
    return grpc.ssl_channel_credentials(
        root_certificates=ca, private_key=key, certificate_chain=cert
    )


class EtcdClient(aetcd.Client):  # type: ignore[misc]  # aetcd has no type hints
    """aetcd.Client bound to one endpoint, over TLS when the endpoint wants it."""

    def __init__(self, endpoint: Endpoint, settings: EtcdSettings) -> None:
        super().__init__(
            username=settings.username,
            password=settings.password,
            timeout=settings.timeout_s,
            options=channel_options(settings),
        )
        self.endpoint = endpoint
        self._settings = settings
        self.watchstub: Any = None
        """aetcd creates a Watcher of its own; we drive the raw stub (etcd_watch.py)."""

    async def connect(self) -> None:
        """Open the channel, authenticate if configured; grpc errors propagate raw."""
        if self._connected.is_set():
            return
        options = list(self._options.items())
        if self.endpoint.tls:
            channel = grpc.aio.secure_channel(
                self.endpoint.target, tls_credentials(self._settings), options=options
            )
        else:
            channel = grpc.aio.insecure_channel(self.endpoint.target, options=options)
        try:
            if self._username is not None and self._password is not None:
                answer = await rpc.AuthStub(channel).Authenticate(
                    rpc.AuthenticateRequest(name=self._username, password=self._password),
                    timeout=self._timeout,
                )
                self.metadata = (("token", answer.token),)
            self.channel = channel
            self.kvstub = rpc.KVStub(channel)
            self.clusterstub = rpc.ClusterStub(channel)
            self.leasestub = rpc.LeaseStub(channel)
            self.maintenancestub = rpc.MaintenanceStub(channel)
            self.watchstub = rpc.WatchStub(channel)
        except BaseException:
            await channel.close()
            raise
        self._connected.set()

    async def probe(self) -> None:
        """One cheap request that only succeeds when this endpoint really answers."""
        await self.connect()
        await self.maintenancestub.Status(
            rpc.StatusRequest(), timeout=self._timeout, metadata=self.metadata
        )
