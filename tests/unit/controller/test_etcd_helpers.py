"""The pure parts of the etcd store: key ranges, endpoint parsing, error triage."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from numaplane.controller.store.contract import LeaseLostError, StoreError, StoreUnavailableError
from numaplane.controller.store.etcd import prefix_range_end
from numaplane.controller.store.etcd_client import Endpoint
from numaplane.controller.store.etcd_errors import Failure, classify, to_store_error
from numaplane.controller.store.settings import EtcdSettings


@pytest.mark.parametrize(
    ("prefix", "end"),
    [
        (b"/a/", b"/a0"),
        (b"/a\xff", b"/b"),
        (b"\xff\xff", b"\0"),
        (b"x", b"y"),
    ],
)
def test_prefix_range_end(prefix: bytes, end: bytes) -> None:
    assert prefix_range_end(prefix) == end


def test_endpoint_forms() -> None:
    plain = EtcdSettings()
    assert Endpoint.parse("127.0.0.1:2379", plain) == Endpoint("127.0.0.1:2379", tls=False)
    assert Endpoint.parse("http://etcd-0:2379/", plain) == Endpoint("etcd-0:2379", tls=False)
    assert Endpoint.parse("https://etcd-0:2379", plain) == Endpoint("etcd-0:2379", tls=True)
    with_ca = EtcdSettings(ca_file=Path("/etc/etcd/ca.pem"))
    assert Endpoint.parse("etcd-0:2379", with_ca).tls
    for bad in ("etcd-0", "unix://sock:1", "etcd-0:port", ":2379"):
        with pytest.raises(StoreError):
            Endpoint.parse(bad, plain)


def _rpc_error(code: grpc.StatusCode, details: str) -> grpc.aio.AioRpcError:
    return grpc.aio.AioRpcError(code, grpc.aio.Metadata(), grpc.aio.Metadata(), details)


def test_failures_are_triaged_for_retry() -> None:
    unsent = _rpc_error(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; x")
    broken = _rpc_error(grpc.StatusCode.UNAVAILABLE, "Socket closed")
    assert classify(unsent) is Failure.UNSENT
    assert classify(broken) is Failure.UNAVAILABLE
    assert classify(_rpc_error(grpc.StatusCode.DEADLINE_EXCEEDED, "")) is Failure.TIMEOUT
    token = _rpc_error(grpc.StatusCode.UNAUTHENTICATED, "etcdserver: invalid auth token")
    assert classify(token) is Failure.UNAUTHENTICATED


def test_store_errors_name_operation_endpoint_and_cause() -> None:
    error = to_store_error(
        "put /k", "10.0.0.1:2379", _rpc_error(grpc.StatusCode.UNAVAILABLE, "Socket closed")
    )
    assert isinstance(error, StoreUnavailableError)
    assert "put /k" in str(error) and "10.0.0.1:2379" in str(error) and "TLS" in str(error)
    lease = to_store_error(
        "put /k",
        "10.0.0.1:2379",
        _rpc_error(grpc.StatusCode.NOT_FOUND, "etcdserver: requested lease not found"),
    )
    assert isinstance(lease, LeaseLostError)
