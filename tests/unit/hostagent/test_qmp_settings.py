"""The agent's `qmp` backend from its settings: NAME=PATH pairs, checked before any I/O."""

from __future__ import annotations

from pathlib import Path

import pytest

from numaplane.common.settings import load_settings
from numaplane.hostagent.drivers.qmp.backend import QmpBackend, parse_qmp_sockets
from numaplane.hostagent.drivers.registry import open_driver
from numaplane.hostagent.settings import AgentSettings


def test_pairs_are_parsed() -> None:
    assert parse_qmp_sockets(["a=/x", " b = /y "]) == {"a": Path("/x"), "b": Path("/y")}


@pytest.mark.parametrize("bad", [["a"], ["=/x"], ["a="], ["a=/x", "a=/y"]])
def test_bad_pairs_are_refused(bad: list[str]) -> None:
    with pytest.raises(ValueError, match="qmp socket"):
        parse_qmp_sockets(bad)


def test_settings_from_the_environment_make_a_qmp_backend() -> None:
    settings = load_settings(
        AgentSettings, env_prefix="NUMAPLANE_AGENT_",
        environ={"NUMAPLANE_AGENT_BACKEND": "qmp",
                 "NUMAPLANE_AGENT_QMP_SOCKETS": "web-1=/run/web-1.qmp,db=/run/db.qmp"},
    )
    assert settings.qmp_sockets == ("web-1=/run/web-1.qmp", "db=/run/db.qmp")
    driver = open_driver(settings)  # connects to nothing until asked
    backend = driver.backend
    assert isinstance(backend, QmpBackend)
    assert driver.lifecycle is None and driver.mover is None and driver.balloons
    assert backend.capabilities().name == "qmp" and backend.capabilities().balloon
    assert backend.balloon("db") is not None and backend.balloon("other") is None
    backend.close()
