"""`numaplane-bench`'s entry point: says which extra to install before any import fails."""

from __future__ import annotations

import sys

from numaplane.common.extras import MissingExtra, require_extra


def main() -> None:
    try:
        require_extra("bench", what="numaplane-bench")
    except MissingExtra as e:
        print(f"numaplane-bench: {e}", file=sys.stderr)
        sys.exit(1)
    from numaplane.bench.cli import main as bench_main

    bench_main()
