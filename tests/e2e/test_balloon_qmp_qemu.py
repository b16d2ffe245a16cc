"""The QMP client, the `qmp` balloon driver and the `qmp` backend against a real QEMU.

Each test starts `qemu-system-x86_64` itself: TCG, no firmware run (-S: the machine stays
paused), a virtio-balloon device and a QMP socket. No guest OS runs, so no balloon
driver answers inside: `actual` stays at the full size whatever the target, and guest
statistics stay unreported; what is tested is what QEMU itself does (the real-guest
test, test_balloon_real_guest.py, covers the guest's side).
Skipped when qemu-system-x86_64 is not installed.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from numaplane.common.vm import BalloonCapabilities
from numaplane.hostagent.drivers.contract import BalloonError
from numaplane.hostagent.drivers.qmp import QmpClient, QmpCommandError
from numaplane.hostagent.drivers.qmp.backend import QmpBackend, parse_qmp_sockets
from numaplane.hostagent.drivers.qmp.balloon import QmpBalloon

pytestmark = pytest.mark.e2e

MiB = 1 << 20
QEMU = shutil.which("qemu-system-x86_64")
BALLOON = "virtio-balloon-pci,id=balloon0,deflate-on-oom=on"


@dataclass
class Qemu:
    process: subprocess.Popen[bytes]
    socket: Path


QemuFactory = Callable[..., Qemu]


@pytest.fixture
def socket_dir() -> Iterator[Path]:
    # Short, under /tmp: a UNIX socket path must fit in 108 bytes.
    path = Path(tempfile.mkdtemp(prefix="np-qmp-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _accepts(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError:  # not there yet, or not listening yet
            return False
    return True


@pytest.fixture
def start_qemu(socket_dir: Path) -> Iterator[QemuFactory]:
    """Start paused QEMUs (killed at teardown); returns once the QMP socket is there."""
    if QEMU is None:
        pytest.skip("needs qemu-system-x86_64")
    started: list[subprocess.Popen[bytes]] = []

    def start(*devices: str, name: str = "vm", memory: str = "512M") -> Qemu:
        sock = socket_dir / f"{name}.qmp"
        args = [QEMU, "-machine", "q35,accel=tcg", "-nodefaults", "-display", "none",
                "-m", memory, "-qmp", f"unix:{sock},server=on,wait=off", "-S"]
        for device in devices:
            args += ["-device", device]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        started.append(proc)
        deadline = time.monotonic() + 60  # liveness bound for a hung start, not a benchmark
        # The socket file appears at bind(), a moment before QEMU listens on it: wait
        # until a connection is accepted (then closed; QEMU takes the next one).
        while not _accepts(sock):
            if proc.poll() is not None:
                assert proc.stderr is not None
                pytest.fail(f"QEMU exited: {proc.stderr.read().decode()}")
            if time.monotonic() > deadline:
                pytest.fail("QEMU did not listen on its QMP socket")
            time.sleep(0.05)
        return Qemu(proc, sock)

    yield start
    for proc in started:
        proc.kill()
        proc.wait()


@pytest.fixture
def client() -> Iterator[Callable[[Path], QmpClient]]:
    made: list[QmpClient] = []

    def make(path: Path) -> QmpClient:
        c = QmpClient(path, timeout_s=30.0)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


# --- the client -----------------------------------------------------------------------------


def test_handshake_greeting_and_peer_pid(start_qemu: QemuFactory, client: Callable[..., QmpClient]
                                         ) -> None:
    qemu = start_qemu(BALLOON)
    c = client(qemu.socket)
    assert c.execute("query-status")["status"] == "prelaunch"
    assert c.greeting["version"]["qemu"]["major"] >= 2
    assert c.peer_pid == qemu.process.pid
    assert c.generation == 1


def test_events_between_replies_are_kept_aside(start_qemu: QemuFactory,
                                               client: Callable[..., QmpClient]) -> None:
    c = client(start_qemu(BALLOON).socket)
    c.execute("cont")  # RESUME may arrive before or after this reply
    c.execute("stop")  # and STOP around this one
    assert c.execute("query-status")["status"] == "paused"
    assert {"RESUME", "STOP"} <= {e["event"] for e in c.events}


def test_a_refused_command_keeps_the_connection(start_qemu: QemuFactory,
                                               client: Callable[..., QmpClient]) -> None:
    c = client(start_qemu(BALLOON).socket)
    with pytest.raises(QmpCommandError) as err:
        c.execute("qom-get", {"path": "/machine/peripheral/nothing", "property": "type"})
    assert err.value.error_class == "DeviceNotFound"
    assert c.execute("query-status")["status"] == "prelaunch"
    assert c.generation == 1


# --- the balloon driver ---------------------------------------------------------------------


def test_reading_and_capabilities_of_a_balloon_without_guest_driver(
    start_qemu: QemuFactory, client: Callable[..., QmpClient]
) -> None:
    c = client(start_qemu(BALLOON).socket)
    driver = QmpBalloon("vm", c, stats_period_s=4, clock=lambda: 7.0)
    assert driver.capabilities() == BalloonCapabilities(
        guest_stats=True, deflate_on_oom=True, free_page_reporting=False
    )
    r = driver.state()
    assert (r.target_bytes, r.actual_bytes, r.max_bytes) == (512 * MiB, 512 * MiB, 512 * MiB)
    assert r.updated_at == 7.0
    assert r.guest is None  # no guest has answered a statistics request
    # The driver turned the device's statistics polling on.
    assert c.execute("qom-get", {"path": "/machine/peripheral/balloon0",
                                 "property": "guest-stats-polling-interval"}) == 4


def test_set_target_is_taken_and_remembered(start_qemu: QemuFactory,
                                            client: Callable[..., QmpClient]) -> None:
    c = client(start_qemu(BALLOON).socket)
    driver = QmpBalloon("vm", c)
    driver.set_target(256 * MiB)
    r = driver.state()
    assert r.target_bytes == 256 * MiB
    assert r.actual_bytes == 512 * MiB  # true without a guest: nobody inflates


@pytest.mark.parametrize("target", [0, 512 * MiB + 4096])
def test_bad_targets_are_refused_before_qemu_is_asked(
    start_qemu: QemuFactory, client: Callable[..., QmpClient], target: int
) -> None:
    c = client(start_qemu(BALLOON).socket)
    driver = QmpBalloon("web-1", c)
    driver.set_target(384 * MiB)
    with pytest.raises(BalloonError) as err:
        driver.set_target(target)  # QEMU would clamp the larger one silently
    assert err.value.vm == "web-1" and "refused target" in err.value.cause
    assert driver.state().target_bytes == 384 * MiB


@pytest.mark.parametrize(
    ("devices", "found"),
    [((), False), (("virtio-balloon-pci",), True)],
    ids=["no-balloon", "balloon-without-id"],
)
def test_device_lookup(start_qemu: QemuFactory, client: Callable[..., QmpClient],
                       devices: tuple[str, ...], found: bool) -> None:
    c = client(start_qemu(*devices).socket)
    driver = QmpBalloon("vm", c)
    if found:
        assert driver.state().actual_bytes == 512 * MiB
    else:
        with pytest.raises(BalloonError, match=r"'vm'.*no virtio-balloon device"):
            driver.state()
        with pytest.raises(BalloonError, match="no virtio-balloon device"):
            driver.set_target(256 * MiB)


def test_a_restarted_qemu_is_reconnected_and_its_target_forgotten(
    start_qemu: QemuFactory, client: Callable[..., QmpClient]
) -> None:
    first = start_qemu(BALLOON)
    c = client(first.socket)
    driver = QmpBalloon("vm", c)
    driver.set_target(256 * MiB)
    first.process.kill()
    first.process.wait()
    first.socket.unlink()
    second = start_qemu(BALLOON, memory="640M")
    with pytest.raises(BalloonError, match="QMP at"):
        driver.state()  # the old connection fails on first use, and is closed
    r = driver.state()  # connects to the new QEMU
    assert c.generation == 2 and c.peer_pid == second.process.pid
    assert r.max_bytes == 640 * MiB
    assert r.target_bytes == r.actual_bytes == 640 * MiB


# --- the qmp backend ------------------------------------------------------------------------


def test_backend_reports_running_qemus_with_their_balloons(
    start_qemu: QemuFactory, socket_dir: Path
) -> None:
    qemu = start_qemu(BALLOON, name="web-1")
    sockets = parse_qmp_sockets([f"web-1={qemu.socket}", f"gone={socket_dir / 'gone.qmp'}"])
    backend = QmpBackend(sockets, stats_period_s=2)
    try:
        obs = backend.observe()
        (vm,) = obs.vms  # "gone" answers nobody: left out
        assert vm.name == "web-1" and vm.id == str(qemu.process.pid)
        assert vm.state == "prelaunch"
        assert vm.memory_bytes > 0 and sum(vm.memory_by_node.values()) == vm.memory_bytes
        assert vm.balloon is not None
        assert vm.balloon.driver == "qmp"
        assert vm.balloon.max_bytes == vm.balloon.actual_bytes == 512 * MiB
        assert vm.balloon.capabilities.deflate_on_oom
        assert backend.capabilities().balloon
        driver = backend.balloon("web-1")
        assert driver is not None and backend.balloon("nobody") is None
        driver.set_target(300 * MiB)
        (vm,) = backend.observe().vms
        assert vm.balloon is not None and vm.balloon.target_bytes == 300 * MiB
    finally:
        backend.close()
