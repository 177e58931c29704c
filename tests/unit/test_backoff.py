"""The one backoff: the ceiling doubles from `base` up to `cap`; each jitter stays inside its documented band."""

from __future__ import annotations

import random

import pytest

from pipeline.backoff import ceiling, equal_jitter, full_jitter


def test_ceiling_doubles_from_the_base_to_the_cap() -> None:
    assert [ceiling(n, 0.5, 5.0) for n in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]
    assert ceiling(0, 0.5, 5.0) == 0.5  # "no retry yet" counts as the first
    assert ceiling(10_000, 0.5, 5.0) == 5.0  # huge retry numbers stay cheap and finite


def test_equal_jitter_stays_between_half_and_full_step() -> None:
    assert equal_jitter(4, 0.1, 100, rng=lambda: 0.0) == pytest.approx(0.4)
    assert equal_jitter(4, 0.1, 100, rng=lambda: 1.0) == pytest.approx(0.8)
    assert equal_jitter(51, 0.1, 5, rng=lambda: 1.0) == pytest.approx(5)


def test_full_jitter_is_uniform_between_zero_and_the_ceiling() -> None:
    rng = random.Random(1)
    draws = [full_jitter(3, 1.0, 8.0, rng.random) for _ in range(2000)]
    assert min(draws) >= 0 and max(draws) <= 4
    assert min(draws) < 0.5 and max(draws) > 3.5


def test_full_jitter_draws_what_random_uniform_drew() -> None:
    """The delivery sinks and the Exmail client drew `rng.uniform(0, ceiling)`: the same seed gives the same waits."""
    a, b = random.Random(7), random.Random(7)
    assert [full_jitter(n, 0.5, 30.0, a.random) for n in range(1, 9)] == \
        [b.uniform(0.0, min(30.0, 0.5 * 2 ** (n - 1))) for n in range(1, 9)]
