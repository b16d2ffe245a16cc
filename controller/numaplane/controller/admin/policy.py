"""GetPolicy and SetPolicy: the cluster policy record read and changed as a whole.

`set_policy` applies the operator's `key=value` changes to the current record and
validates the result as a whole (`numaplane.controller.policy.config`): one bad value
refuses the lot and nothing is written. The write is a CAS on the record read.
"""

from __future__ import annotations

from collections.abc import Mapping

from numaplane.controller.admin.refused import invalid, retrying
from numaplane.controller.policy.config import PolicyError, apply_changes, policy_json
from numaplane.controller.state.policy_record import read_policy, write_policy
from numaplane.controller.store import ClusterStore
from numaplane.v1.admin_pb2 import PolicyResponse
from numaplane.v1.state_pb2 import PolicyConfig


class PolicyAdmin:
    def __init__(self, store: ClusterStore) -> None:
        self._store = store

    async def get_policy(self) -> PolicyResponse:
        policy, _ = await read_policy(self._store)
        return PolicyResponse(json=policy_json(policy))

    async def set_policy(self, values: Mapping[str, str]) -> PolicyResponse:
        async def attempt() -> PolicyConfig | None:
            current, revision = await read_policy(self._store)
            try:
                changed = apply_changes(current, values)
            except PolicyError as e:
                raise invalid(str(e)) from None
            return changed if await write_policy(self._store, changed, revision) else None

        policy = await retrying(attempt)
        return PolicyResponse(json=policy_json(policy))
