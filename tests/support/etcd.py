"""What integration tests share about etcd besides its fixtures: namespaces and factory types.

`unique_namespace` gives a key prefix no other test uses. `StoreFactory` and `EtcdFactory`
are the types of the `make_store` and `private_etcd` fixtures (tests/integration/conftest.py),
for tests that annotate their parameters with them.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from numaplane.controller.store.embedded_etcd import EmbeddedEtcd
from numaplane.controller.store.etcd import EtcdStore

StoreFactory = Callable[..., Awaitable[EtcdStore]]
"""`make_store`: a connected EtcdStore, keyword arguments overriding its EtcdSettings."""

EtcdFactory = Callable[..., EmbeddedEtcd]
"""`private_etcd`: a started etcd process of the test's own (EmbeddedEtcd's arguments)."""


def unique_namespace() -> str:
    """A key prefix of one test's own in the shared etcd."""
    return f"/test-{uuid.uuid4().hex}"
