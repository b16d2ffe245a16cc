"""gRPC channel and server options for the agent link, in one place.

A hung peer is only noticed when `grpc.http2.ping_timeout_ms` is set next to the
keepalive pair (otherwise about 60 s). The server must allow the client's ping rate,
or it answers GOAWAY `too_many_pings`.
"""

from __future__ import annotations

from typing import Any


def client_options(keepalive_s: float, max_message_bytes: int) -> list[tuple[str, Any]]:
    ms = int(keepalive_s * 1000)
    return [
        ("grpc.keepalive_time_ms", ms),
        ("grpc.keepalive_timeout_ms", ms),
        ("grpc.http2.ping_timeout_ms", ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
        # We reconnect ourselves with our own backoff; keep gRPC's short.
        ("grpc.initial_reconnect_backoff_ms", 200),
        ("grpc.max_reconnect_backoff_ms", 2000),
    ]


def server_options(keepalive_s: float, max_message_bytes: int) -> list[tuple[str, Any]]:
    ms = int(keepalive_s * 1000)
    return [
        ("grpc.keepalive_time_ms", ms),
        ("grpc.keepalive_timeout_ms", ms),
        ("grpc.http2.ping_timeout_ms", ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_ping_interval_without_data_ms", max(500, ms // 2)),
        ("grpc.http2.max_ping_strikes", 0),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.max_receive_message_length", max_message_bytes),
    ]
