"""Retry policy: full jitter within bounds, attempt and time budgets, rate-limit floor, Retry-After."""

from __future__ import annotations

import random

import pytest

from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.retry import RetryPolicy, RetrySettings

TRANSIENT = AttemptResult(ErrorClass.TRANSIENT, "http_503", http_status=503)
RATE = AttemptResult(ErrorClass.TRANSIENT, "errcode_45009", errcode=45009, rate_limited=True)
PERMANENT = AttemptResult(ErrorClass.PERMANENT, "errcode_93000", errcode=93000)


def test_full_jitter_stays_within_the_exponential_ceiling() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8.0, rng=random.Random(7))
    for retry in range(1, 10):
        ceiling = min(8.0, 0.5 * 2 ** (retry - 1))
        draws = [policy.backoff(retry) for _ in range(200)]
        assert all(0.0 <= d <= ceiling for d in draws)
        assert max(draws) > ceiling * 0.8  # it is jitter over the whole range, not a constant
        assert min(draws) < ceiling * 0.2


def test_attempts_are_bounded() -> None:
    policy = RetryPolicy(max_attempts=3, rng=random.Random(1))
    assert policy.next_delay(TRANSIENT, attempts=1, elapsed=0) is not None
    assert policy.next_delay(TRANSIENT, attempts=2, elapsed=0) is not None
    assert policy.next_delay(TRANSIENT, attempts=3, elapsed=0) is None


def test_elapsed_time_is_bounded() -> None:
    policy = RetryPolicy(max_attempts=100, base_delay=10, max_delay=10, max_elapsed=60, rng=random.Random(1))
    assert policy.next_delay(TRANSIENT, attempts=1, elapsed=60.0) is None
    assert policy.next_delay(TRANSIENT, attempts=1, elapsed=0.0) is not None


def test_permanent_and_token_errors_are_not_backed_off() -> None:
    policy = RetryPolicy()
    assert policy.next_delay(PERMANENT, attempts=1, elapsed=0) is None
    token = AttemptResult(ErrorClass.TOKEN_REFRESH, "errcode_42001", errcode=42001)
    assert policy.next_delay(token, attempts=1, elapsed=0) is None


def test_rate_limited_answers_wait_at_least_the_floor() -> None:
    policy = RetryPolicy(base_delay=0.01, rate_limited_min_delay=3.0, rng=random.Random(3))
    assert all(policy.next_delay(RATE, attempts=1, elapsed=0) == 3.0 for _ in range(20))


def test_retry_after_is_honoured() -> None:
    policy = RetryPolicy(base_delay=0.01, rng=random.Random(3))
    throttled = AttemptResult(ErrorClass.TRANSIENT, "http_429", http_status=429, rate_limited=True, retry_after=12)
    assert policy.next_delay(throttled, attempts=1, elapsed=0) == 12


def test_settings_build_a_policy() -> None:
    policy = RetrySettings(max_attempts=4, base_delay=1, max_delay=2).policy(random.Random(0))
    assert (policy.max_attempts, policy.base_delay, policy.max_delay) == (4, 1, 2)
    with pytest.raises(ValueError):
        RetrySettings(max_attempts=0)
