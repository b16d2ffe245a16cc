"""Memory sizes as people type them: bytes, 512M, 4G, 4GiB, 1.5TiB.

Suffixes are binary (K = KiB = 1024) as in QEMU, libvirt and `free`;
"KB"/"MB"/"GB" are decimal for those who mean it.
"""

from __future__ import annotations

import re

_BINARY = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}
_DECIMAL = {"KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12, "PB": 10**15}
_SIZE = re.compile(r"^\s*(?P<num>\d+(?:\.\d+)?)\s*(?P<unit>[A-Za-z]*)\s*$")

GiB = 1 << 30
MiB = 1 << 20


class SizeError(ValueError):
    """A size that cannot be parsed or is not positive."""


def parse_size(text: str, *, allow_zero: bool = False) -> int:
    """Bytes for `text`; raises SizeError naming the problem."""
    m = _SIZE.match(text)
    if not m:
        raise SizeError(f"cannot parse size {text!r} (examples: 4G, 512MiB, 1073741824)")
    unit = m.group("unit").upper()
    if unit in _DECIMAL:
        factor = _DECIMAL[unit]
    else:
        unit = unit.removesuffix("IB").removesuffix("B") if unit not in ("B",) else ""
        if unit not in _BINARY:
            raise SizeError(f"unknown unit in size {text!r} (use K, M, G, T, KiB, MiB, GiB, TiB)")
        factor = _BINARY[unit]
    value = int(float(m.group("num")) * factor)
    if value < 0 or (value == 0 and not allow_zero):
        raise SizeError(f"size {text!r} must be greater than zero")
    return value


def format_size(n: int | float) -> str:
    """Short human form with binary units: 1.5G, 512M, 0."""
    value = float(n)
    for unit in ("", "K", "M", "G", "T"):
        if abs(value) < 1024 or unit == "T":
            if unit == "":
                return f"{int(value)}"
            return f"{value:.1f}{unit}".replace(".0" + unit, unit)
        value /= 1024
    return f"{value:.1f}P"
