"""Console-script entry points of the control plane, light enough to run without extras.

Each checks that its role's extra is installed (`numaplane.common.extras`) before it
imports the command, so `numaplane` on a host that installed only the agent prints which
extra to install and exits 1, rather than a traceback.
"""

from __future__ import annotations

import sys

from numaplane.common.extras import MissingExtra, require_extra


def cli() -> None:
    """`numaplane`: the operator's CLI."""
    _require("cli", prog="numaplane", what="the numaplane CLI")
    from numaplane.controller.cli.main import main

    main()


def controller() -> None:
    """`numaplane-controller`: one controller replica."""
    _require("controller", prog="numaplane-controller", what="a controller replica")
    from numaplane.controller.__main__ import main

    main()


def _require(extra: str, *, prog: str, what: str) -> None:
    try:
        require_extra(extra, what=what)
    except MissingExtra as e:
        print(f"{prog}: {e}", file=sys.stderr)
        sys.exit(1)
