"""The cluster policy record (`config/policy`): read with its revision, written by CAS.

The record's content (defaults, `key=value` changes, validation of the whole) is pure
and lives in `numaplane.controller.policy.config`; this is only where it is stored.
"""

from __future__ import annotations

from numaplane.controller.policy.config import decode_policy, encode_policy
from numaplane.controller.state import keyspace
from numaplane.controller.store import ClusterStore
from numaplane.v1.state_pb2 import PolicyConfig


async def read_policy(store: ClusterStore) -> tuple[PolicyConfig, int]:
    """The effective policy and the mod_revision to guard a write with (0 = absent)."""
    kv = await store.get(keyspace.POLICY)
    if kv is None:
        return decode_policy(None), 0
    return decode_policy(kv.value), kv.mod_revision


async def write_policy(store: ClusterStore, policy: PolicyConfig, mod_revision: int) -> bool:
    """Replace the record if it is still at `mod_revision`; False when it changed meanwhile."""
    rev = await store.compare_and_swap(keyspace.POLICY, encode_policy(policy), mod_revision)
    return rev is not None
