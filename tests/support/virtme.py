"""What the virtme-ng tests need from this machine, found in one place.

`vng` beside the running Python (the project's venv) or on PATH, the newest kernel in
/boot, and qemu-system-x86_64; a test module without them is skipped with the reason
(`scripts/test.sh` installs all three when run as root, so CI runs these tests).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest


def vng_binary() -> str | None:
    beside_python = Path(sys.executable).parent / "vng"
    return str(beside_python) if beside_python.exists() else shutil.which("vng")


def newest_kernel() -> Path | None:
    kernels = sorted(Path("/boot").glob("vmlinuz-*"))
    return kernels[-1] if kernels else None


def require_virtme() -> tuple[str, Path]:
    """(vng, kernel), or skip the test naming what is missing."""
    vng, kernel = vng_binary(), newest_kernel()
    if vng is None or kernel is None or shutil.which("qemu-system-x86_64") is None:
        pytest.skip("needs virtme-ng, qemu-system-x86 and a kernel in /boot")
    return vng, kernel
