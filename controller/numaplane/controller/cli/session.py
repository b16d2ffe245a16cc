"""The global options of one `numaplane` invocation, and its lazily opened client.

Commands receive the session through click's context (`pass_session`); the channel
is opened on first use, so `numaplane --help` or a usage error never dials anything,
and closed when the command ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import click

from numaplane.controller.cli.client import AdminClient

DEFAULT_CONTROLLER = "127.0.0.1:7070"
CONTROLLER_ENV = "NUMAPLANE_CONTROLLER"


@dataclass
class Session:
    controller: str
    """HOST:PORT of the controller's admin API."""
    timeout: float
    """Deadline of each call, in seconds."""
    debug: bool = False
    """Tracebacks on errors."""
    _client: AdminClient | None = field(default=None, repr=False)

    @property
    def client(self) -> AdminClient:
        if self._client is None:
            self._client = AdminClient(self.controller, self.timeout)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None


pass_session = click.make_pass_decorator(Session)
