"""Real child processes that the linux backend sees as VMs, for tests that read /proc.

`STAND_IN` touches 64 MiB and waits; `FAKE_QEMU` names itself $FAKE_COMM and runs one
"CPU n/KVM" thread pinned to each CPU of $FAKE_VCPU_CPUS, after touching 32 MiB; a line
"exit-vcpu" on its stdin ends its last vCPU thread (it answers "exited" once the thread
is gone). `start` runs such a program and returns once it printed "ready"; `stop` kills
and reaps it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

STAND_IN = """
import sys
data = bytearray(64 << 20)
data[::4096] = b"\\1" * len(range(0, len(data), 4096))
print("ready", flush=True)
sys.stdin.read()
"""

FAKE_QEMU = """
import ctypes, os, sys, threading
prctl = ctypes.CDLL(None, use_errno=True).prctl
PR_SET_NAME = 15
prctl(PR_SET_NAME, os.environ["FAKE_COMM"].encode(), 0, 0, 0)
cpus = [int(c) for c in os.environ["FAKE_VCPU_CPUS"].split(",")]
data = bytearray(32 << 20)
data[::4096] = b"\\1" * len(range(0, len(data), 4096))
barrier = threading.Barrier(len(cpus) + 1)
stops = [threading.Event() for _ in cpus]

def vcpu(n, cpu):
    prctl(PR_SET_NAME, f"CPU {n}/KVM".encode(), 0, 0, 0)
    os.sched_setaffinity(0, {cpu})
    barrier.wait()
    stops[n].wait()

threads = [threading.Thread(target=vcpu, args=(n, cpu), daemon=True)
           for n, cpu in enumerate(cpus)]
for thread in threads:
    thread.start()
barrier.wait()
print("ready", flush=True)
for line in sys.stdin:
    if line.strip() == "exit-vcpu":
        stops[-1].set()
        threads[-1].join()
        print("exited", flush=True)
"""


def start(code: str, *args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    child = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert child.stdout is not None
    assert child.stdout.readline() == "ready\n"
    return child


def stop(child: subprocess.Popen[str]) -> None:
    child.kill()
    child.communicate()
