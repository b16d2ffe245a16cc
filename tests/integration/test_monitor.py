"""aiomonitor in the controller and the agent: custom commands, loopback only, closed at stop.

The terminal UI is driven the way an operator drives it — over telnet — by a plain
asyncio TCP client that answers prompt_toolkit's terminal-type question (its telnet
server waits for that before it shows a prompt), announces a wide window (so no line
wraps) and strips telnet negotiation and ANSI escapes from what comes back. The sockets
are judged by the kernel's own table (/proc/net/tcp and tcp6), not by our settings.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import re
import socket
import threading
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from numaplane.controller.store.embedded_etcd import EmbeddedEtcd, free_port
from numaplane.controller.store.etcd import EtcdStore
from numaplane.hostagent.agent import Agent
from tests.support.cluster import (
    Controller,
    controller_settings,
    running_agents,
    sim_agent,
    wait_for,
)

pytestmark = pytest.mark.integration

LIVENESS_S = 20.0
"""Bound for one answer of the monitor (liveness, not performance)."""

IAC, SB, SE = 255, 250, 240
WILL, WONT, DO, DONT = 251, 252, 253, 254
TTYPE, NAWS, IS = 24, 31, 0
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
PROMPT = "monitor >>> "


def strip_telnet(raw: bytes) -> bytes:
    """Drop telnet commands and subnegotiations; keep the data bytes."""
    out = bytearray()
    i = 0
    while i < len(raw):
        b = raw[i]
        if b != IAC:
            out.append(b)
            i += 1
        elif i + 1 < len(raw) and raw[i + 1] == IAC:
            out.append(IAC)
            i += 2
        elif i + 1 < len(raw) and raw[i + 1] in (WILL, WONT, DO, DONT):
            i += 3
        elif i + 1 < len(raw) and raw[i + 1] == SB:
            end = raw.find(bytes([IAC, SE]), i + 2)
            i = len(raw) if end < 0 else end + 2
        else:
            i += 2
    return bytes(out)


class Telnet:
    """A telnet client just good enough for aiomonitor's terminal UI."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer
        self._raw = b""

    @property
    def text(self) -> str:
        clean = strip_telnet(self._raw).decode("utf-8", errors="replace")
        return ANSI.sub("", clean).replace("\r", "")

    async def read_until(self, pattern: str) -> re.Match[str]:
        async with asyncio.timeout(LIVENESS_S):
            while (match := re.search(pattern, self.text, re.DOTALL)) is None:
                chunk = await self._reader.read(4096)
                if not chunk:
                    raise AssertionError(f"monitor closed the connection; got {self.text!r}")
                self._raw += chunk
        return match

    async def command(self, line: str) -> str:
        """Run a command; its output (between the ✓ mark and the next prompt)."""
        await self.read_until(re.escape(PROMPT) + "$")
        self._raw = b""
        self._writer.write(line.encode() + b"\r")
        await self._writer.drain()
        return (await self.read_until(r"✓ (.*?)\n" + re.escape(PROMPT))).group(1)


@contextlib.asynccontextmanager
async def telnet(port: int) -> AsyncIterator[Telnet]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        # The terminal type (prompt_toolkit waits for it) and a 200x50 window.
        writer.write(bytes([IAC, SB, TTYPE, IS]) + b"VT100" + bytes([IAC, SE]))
        writer.write(bytes([IAC, SB, NAWS, 0, 200, 0, 50, IAC, SE]))
        yield Telnet(reader, writer)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


def free_port_block(count: int = 3) -> int:
    """A port with the next `count - 1` free too (aiomonitor takes port, +1, +2)."""
    for _ in range(100):
        base = free_port()
        socks: list[socket.socket] = []
        try:
            for port in range(base, base + count):
                s = socket.socket()
                socks.append(s)
                s.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no block of free ports")


def listeners(port: int) -> list[str]:
    """Addresses listening on TCP `port`, from the kernel's socket tables."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].rsplit(":", 1)
            if int(hex_port, 16) != port or fields[3] != "0A":  # 0A: LISTEN
                continue
            if len(address) == 8:
                found.append(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
            else:
                found.append(f"ipv6:{address}")
    return found


def monitor_threads() -> list[threading.Thread]:
    """aiomonitor's UI threads (a thread's default name carries its target's name)."""
    return [t for t in threading.enumerate() if t.name.endswith("(_ui_main)")]


async def test_controller_monitor_lists_its_agents(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    port = free_port_block()
    settings = controller_settings(etcd.endpoint, store.settings.namespace,
                                   monitor=True, monitor_port=port)
    assert monitor_threads() == []
    async with Controller(settings) as ctl, running_agents() as agents:
        agents.start(sim_agent("mon-h1", settings, 0))
        agents.start(sim_agent("mon-h2", settings, 1))

        async def both_reported() -> bool:
            sessions = ctl.sessions.all()
            return len(sessions) == 2 and all(s.reports >= 1 for s in sessions)

        await wait_for(both_reported)
        assert listeners(port) == ["127.0.0.1"], "terminal UI"
        assert listeners(port + 1) == ["127.0.0.1"], "web UI"
        assert listeners(port + 2) == [], "the Python console opens only on request"
        async with telnet(port) as t:
            out = await t.command("agents")
        rows = {line.split()[0]: line for line in out.splitlines()[1:-1]}
        assert set(rows) == {"mon-h1", "mon-h2"}, out
        for row in rows.values():
            assert re.fullmatch(r"\S+\s+\d+\s+\d+\.\d s ago\s+\d+ s", row), row
        assert out.splitlines()[-1] == (
            f"2 agent(s); leader: True (epoch {ctl.election.epoch})")
        assert len(monitor_threads()) == 1
    # Stopped with the controller: its thread joined, both servers gone.
    assert monitor_threads() == []
    assert listeners(port) == [] and listeners(port + 1) == []


async def test_agent_monitor_shows_its_last_report(etcd: EmbeddedEtcd, store: EtcdStore) -> None:
    port = free_port_block()
    settings = controller_settings(etcd.endpoint, store.settings.namespace)
    async with Controller(settings) as ctl, running_agents() as agents:
        plain = sim_agent("mon-a", settings, 0, vms=3)
        agent = agents.start(Agent(
            dataclasses.replace(plain.settings, monitor=True, monitor_port=port), plain.driver))

        async def reported() -> bool:
            return agent.link.status.last_report_sequence >= 1

        await wait_for(reported)
        assert listeners(port) == ["127.0.0.1"]
        assert listeners(port + 1) == ["127.0.0.1"]
        async with telnet(port) as t:
            out = await t.command("last-report")
        first, second = out.splitlines()
        assert first == (f"host mon-a -> {settings.link_address}: "
                         f"connected to {ctl.settings.controller_id}")
        assert re.fullmatch(r"last report #\d+ \d+\.\d s ago, 3 VMs, \d+ vCPU samples; "
                            r"sessions 1; last error: -", second), second
        await agents.stop("mon-a")
        assert monitor_threads() == []
        assert listeners(port) == [] and listeners(port + 1) == []
