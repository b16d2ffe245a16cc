"""Repository-wide rules as tests: generated code is current, and the layering holds.

Both also run as their own steps in scripts/test.sh; here they fail `pytest` alone too.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def test_committed_protobuf_code_equals_a_fresh_regeneration() -> None:
    run = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_protos.py"), "--check"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_layering_contracts_are_kept() -> None:
    """hostagent never imports controller; common imports neither; policies do no I/O."""
    run = subprocess.run(
        [str(BIN / "lint-imports"), "--no-cache"],
        capture_output=True, text=True, cwd=ROOT, check=False,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "broken" in run.stdout and " 0 broken" in run.stdout
