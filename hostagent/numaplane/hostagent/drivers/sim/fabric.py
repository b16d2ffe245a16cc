"""The network between simulated hosts in one process, over which the sim live-migrates.

A real live migration is host to host: libvirt's peer-to-peer mode has the source's
libvirtd connect to the target's URI and stream the guest's memory to it; the controller
is not in the data path, it only tells the source where to go. Simulated hosts have no
network, so the hosts of one process (the demo, the tests) join a `SimFabric`, and a
source agent's mover finds its target's simulated host there by name — the stand-in for
resolving a target URI. Sim agents in different processes cannot live-migrate to each
other; their backends are in no common fabric and report `live_migration: false`.
"""

from __future__ import annotations

import threading
import weakref
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from numaplane.hostagent.drivers.sim import SimBackend

_MEMBERSHIP: weakref.WeakKeyDictionary[SimBackend, SimFabric] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


class SimFabric:
    def __init__(self) -> None:
        self._backends: dict[str, SimBackend] = {}

    def join(self, backend: SimBackend) -> None:
        """Make `backend`'s host reachable by name (and able to reach the others)."""
        name = backend.with_host(lambda host: host.name)
        with _LOCK:
            self._backends[name] = backend
            _MEMBERSHIP[backend] = self

    def backend(self, host: str) -> SimBackend | None:
        with _LOCK:
            return self._backends.get(host)

    @property
    def hosts(self) -> tuple[str, ...]:
        with _LOCK:
            return tuple(sorted(self._backends))


def fabric_of(backend: SimBackend) -> SimFabric | None:
    """The fabric `backend` joined, if any."""
    with _LOCK:
        return _MEMBERSHIP.get(backend)
