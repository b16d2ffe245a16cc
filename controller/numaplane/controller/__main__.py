"""`numaplane-controller`: run one controller replica until SIGTERM/SIGINT."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from pathlib import Path
from typing import Any

import click

from numaplane.common.settings import SettingsError, load_settings
from numaplane.common.settings_cli import flag_values, settings_options
from numaplane.controller.server import Controller
from numaplane.controller.settings import ControllerSettings
from numaplane.controller.store import StoreError

ENV_PREFIX = "NUMAPLANE_CONTROLLER_"


async def serve(settings: ControllerSettings) -> int:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with Controller(settings) as c:  # it starts aiomonitor when settings.monitor
        stop_task = asyncio.create_task(stop.wait())
        fail_task = asyncio.create_task(c.wait_failed())
        done, pending = await asyncio.wait({stop_task, fail_task},
                                           return_when=asyncio.FIRST_COMPLETED)
        for t in pending:
            t.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        if fail_task in done and fail_task.result() is not None:
            logging.getLogger("numaplane").error("a root task failed: %r", fail_task.result())
            return 1
    return 0


@click.command(context_settings={"help_option_names": ["-h", "--help"],
                                 "max_content_width": 100})
@click.option("--config", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TOML file with settings (overridden by environment, then flags).")
@settings_options(ControllerSettings, ENV_PREFIX)
def main(config: Path | None, **kwargs: Any) -> None:
    """Run a numaplane controller replica.

    Serves the admin API (for the `numaplane` CLI) and the agent link, keeps cluster
    state in etcd, and, while it holds the leader lease, turns desired state into
    journaled commands. Run several replicas against one etcd; one leads.

    Example: numaplane-controller --etcd-endpoints 10.0.0.5:2379 --link-address 0.0.0.0:7071
    """
    try:
        settings = load_settings(ControllerSettings, config_file=config, env_prefix=ENV_PREFIX,
                                 flags=flag_values(ControllerSettings, kwargs))
    except SettingsError as e:
        raise click.UsageError(str(e)) from None
    logging.basicConfig(level=settings.log_level.upper(),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        sys.exit(asyncio.run(serve(settings)))
    except (StoreError, OSError) as e:
        click.echo(f"numaplane-controller: {e}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
