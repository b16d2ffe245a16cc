"""What a host driver offers the agent, in one place: observe, start/stop, balloon, move.

Every hypervisor folder beside this one (sim, libvirt, qmp, linux) implements these
parts and nothing else; the agent and its command handlers import them from here only.

- `Backend` (`backend`): the host's topology and one observation of its VMs; it also
  hands out each VM's `BalloonDriver` where the hypervisor has balloons.
- `BalloonDriver` (`balloon`): one VM's balloon; targets are checked before any call.
- `VmLifecycle` (`lifecycle`): start and stop VMs, idempotently.
- `Mover` (`mover`): memory between nodes, vCPU affinity, live migration; resumable.
- `HostDriver` (`driver`): one backend with the lifecycle and mover it offers (or None):
  the one place the agent learns what a host can do.
- `BackendError` (`errors`): the one exception a driver raises; the others derive from it.

All of it is synchronous: drivers do blocking I/O and the agent calls them from worker
threads, so the link's keepalives never wait on a slow /proc read or libvirt call.
"""

from numaplane.hostagent.drivers.contract.backend import Backend, BackendCapabilities
from numaplane.hostagent.drivers.contract.balloon import (
    PAGE_BYTES,
    BalloonDriver,
    BalloonError,
    BalloonReading,
    check_target,
    observe_balloon,
)
from numaplane.hostagent.drivers.contract.driver import HostDriver
from numaplane.hostagent.drivers.contract.errors import BackendError
from numaplane.hostagent.drivers.contract.lifecycle import NoRoomError, VmLifecycle, VmStart
from numaplane.hostagent.drivers.contract.mover import (
    LiveMigration,
    MemoryMigration,
    MoveCancelled,
    MoveError,
    Mover,
    Progress,
)

__all__ = [
    "PAGE_BYTES",
    "Backend",
    "BackendCapabilities",
    "BackendError",
    "BalloonDriver",
    "BalloonError",
    "BalloonReading",
    "HostDriver",
    "LiveMigration",
    "MemoryMigration",
    "MoveCancelled",
    "MoveError",
    "Mover",
    "NoRoomError",
    "Progress",
    "VmLifecycle",
    "VmStart",
    "check_target",
    "observe_balloon",
]
