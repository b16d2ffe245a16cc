"""Sharing an amount out in proportion to weights, under caps, without crumbs.

Water-filling: each name gets `amount * weight / sum(weights)`; a name whose share
exceeds its cap gets its cap and the rest is shared again among the others. A share
below the name's minimum is a change too small to be worth making (anti-oscillation):
the smallest such name drops out and the amount is shared again among the rest, so a
need spread thin over many VMs is met by fewer, larger moves instead of not at all.

Integers throughout, shares rounded down to `align` bytes; deterministic (names are
visited sorted, ties broken by name).
"""

from __future__ import annotations

from collections.abc import Mapping


def align_down(value: float, align: int) -> int:
    return int(value) // align * align if value > 0 else 0


def share_out(
    amount: int,
    weights: Mapping[str, float],
    caps: Mapping[str, int],
    minimum: Mapping[str, int],
    *,
    align: int = 1,
) -> dict[str, int]:
    """name -> its part of `amount` (parts sum to at most `amount`; zero parts left out)."""
    names = sorted(
        n for n in weights if weights[n] > 0 and caps.get(n, 0) >= max(1, minimum.get(n, 0))
    )
    while names and amount > 0:
        parts = _fill(amount, names, weights, caps, align)
        small = [n for n in names if parts[n] < max(1, minimum.get(n, 0))]
        if not small:
            return parts
        names.remove(min(small, key=lambda n: (parts[n], n)))
    return {}


def _fill(
    amount: int, names: list[str], weights: Mapping[str, float], caps: Mapping[str, int],
    align: int,
) -> dict[str, int]:
    parts = dict.fromkeys(names, 0)
    left = amount
    open_ = list(names)
    while left > 0 and open_:
        total = sum(weights[n] for n in open_)
        capped = [n for n in open_ if left * weights[n] / total >= caps[n]]
        if not capped:
            for n in open_:
                parts[n] = align_down(left * weights[n] / total, align)
            break
        for n in capped:
            parts[n] = caps[n]
            left -= caps[n]
            open_.remove(n)
    return parts
