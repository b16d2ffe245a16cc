"""Jittered exponential backoff as data: the delays are a sequence you can test.

"Full jitter" (a uniform draw between 0 and the capped exponential) spreads a fleet of
agents that all lost the same controller, so they do not reconnect in lockstep.
"""

from __future__ import annotations

import random
from collections.abc import Iterator


def backoff_delays(
    initial_s: float, max_s: float, rng: random.Random | None = None
) -> Iterator[float]:
    r = rng or random.Random()
    ceiling = initial_s
    while True:
        yield r.uniform(initial_s / 2, ceiling)
        ceiling = min(max_s, ceiling * 2)
