"""Cluster state storage: the ClusterStore contract and its etcd implementation."""

from numaplane.controller.store.contract import (
    KV,
    ClusterStore,
    CompactedError,
    Lease,
    LeaseLostError,
    StoreError,
    StoreUnavailableError,
    WatchEvent,
)

__all__ = [
    "KV",
    "ClusterStore",
    "CompactedError",
    "Lease",
    "LeaseLostError",
    "StoreError",
    "StoreUnavailableError",
    "WatchEvent",
]
