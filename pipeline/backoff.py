"""The project's one exponential backoff: retry n (1 for the first retry) waits up to min(cap, base * 2**(n-1)).

Every retry loop draws its wait here: delivery sends and the Exmail client use full jitter (uniform in
[0, ceiling]: many senders hitting one throttled destination spread out), the batching sinks and batch consumers
equal jitter (half fixed, half random: never an immediate hammer), source pollers full jitter with a floor, and
scheduled actions and the simulator's callback pushes the bare ceiling. `rng` returns a float in [0, 1) (e.g.
`random.Random(seed).random`), so tests pin the draw.
"""

from __future__ import annotations

import random
from collections.abc import Callable

Rng = Callable[[], float]

# 2**62 already overflows any sensible cap; bounding the exponent keeps huge retry numbers cheap and finite
_MAX_EXPONENT = 62


def ceiling(retry: int, base: float, cap: float) -> float:
    """The longest wait before retry number `retry` (1 for the first retry; 0 or less counts as 1)."""
    return min(cap, base * 2 ** min(max(0, retry - 1), _MAX_EXPONENT))


def full_jitter(retry: int, base: float, cap: float, rng: Rng = random.random) -> float:
    """Uniform in [0, ceiling): the spread that keeps many retrying senders apart."""
    return ceiling(retry, base, cap) * rng()


def equal_jitter(retry: int, base: float, cap: float, rng: Rng = random.random) -> float:
    """Half the ceiling fixed plus half drawn: spread out, but never an immediate retry."""
    step = ceiling(retry, base, cap)
    return step / 2 + step / 2 * rng()
