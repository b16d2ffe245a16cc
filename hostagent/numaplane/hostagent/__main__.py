"""`numaplane-agent`: observe this host and hold the link to the controller."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from numaplane.common.extras import MissingExtra
from numaplane.common.settings import SettingsError, load_settings
from numaplane.common.settings_cli import flag_values, settings_options
from numaplane.hostagent.agent import Agent
from numaplane.hostagent.drivers.contract import BackendError
from numaplane.hostagent.settings import AgentSettings

ENV_PREFIX = "NUMAPLANE_AGENT_"


async def run(settings: AgentSettings) -> None:
    agent = Agent(settings)
    task = asyncio.create_task(agent.run(), name="agent")
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, task.cancel)
    with contextlib.suppress(asyncio.CancelledError):
        await task


@click.command(context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 100})
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML file with settings (overridden by environment, then flags).")
@settings_options(AgentSettings, ENV_PREFIX)
def main(config: Path | None, **kwargs: Any) -> None:
    """Run the numaplane agent of one hypervisor host.

    Reports the host's NUMA topology, its VMs' memory per node, vCPU placement, locality
    and balloons to the controller every interval, and applies the controller's
    commands (each at most once). Reconnects with jittered exponential backoff.

    Example: numaplane-agent --backend linux --controller ctl.example:7071
    """
    try:
        settings = load_settings(AgentSettings, config_file=config, env_prefix=ENV_PREFIX,
                                 flags=flag_values(AgentSettings, kwargs))
    except SettingsError as e:
        raise click.UsageError(str(e)) from None
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        asyncio.run(run(settings))
    except (BackendError, MissingExtra, ValueError, OSError) as e:
        click.echo(f"numaplane-agent: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
