"""Retry policy: exponential backoff with full jitter, bounded by attempts and by elapsed time.

Full jitter (delay drawn uniformly from [0, min(cap, base * 2**n)]) spreads retries of many senders hitting
one throttled destination. Rate-limit answers get a floor (`rate_limited_min_delay`) and a destination's
Retry-After is honoured, so a throttled robot is not hammered by near-zero jitter draws.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from pydantic import BaseModel, ConfigDict, Field

from pipeline.backoff import full_jitter
from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass


@dataclass(slots=True, frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_elapsed: float = 300.0
    rate_limited_min_delay: float = 3.0
    rate_limited_max_elapsed: float = 3600.0
    token_refreshes: int = 2
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def backoff(self, retry: int) -> float:
        """Delay before retry number `retry` (1 for the first retry)."""
        return full_jitter(retry, self.base_delay, self.max_delay, self.rng.random)

    def next_delay(self, result: AttemptResult, *, attempts: int, elapsed: float) -> float | None:
        """Seconds to wait before the next attempt, or None when this result must not be retried (permanent,
        attempts used up, or the wait would overrun `max_elapsed`)."""
        if result.error_class is not ErrorClass.TRANSIENT or attempts >= self.max_attempts:
            return None
        delay = self.backoff(attempts)
        if result.rate_limited:
            delay = max(delay, self.rate_limited_min_delay)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self.max_elapsed))
        if elapsed + delay > self.max_elapsed:
            return None
        return delay

    def throttled_delay(self, result: AttemptResult, *, attempts: int, throttled: float) -> float | None:
        """Delay after a rate-limit answer: not bounded by max_attempts/max_elapsed (a destination at its limit
        accepts again shortly; its backlog waits), only by `rate_limited_max_elapsed` seconds of nothing but
        rate-limit answers for this part."""
        delay = max(self.backoff(attempts), self.rate_limited_min_delay)
        if result.retry_after is not None:
            delay = max(delay, min(result.retry_after, self.max_delay))
        if throttled + delay > self.rate_limited_max_elapsed:
            return None
        return delay


class RetrySettings(BaseModel):
    """Config form of `RetryPolicy`."""

    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(6, ge=1, le=50, description="attempts per message part, the first included")
    base_delay: float = Field(0.5, gt=0, description="seconds; the n-th retry waits up to base * 2**(n-1)")
    max_delay: float = Field(30.0, gt=0, description="cap on one backoff, seconds")
    max_elapsed: float = Field(300.0, gt=0, description="give up when the next wait would pass this, seconds")
    rate_limited_min_delay: float = Field(3.0, ge=0, description="floor after a rate-limit answer, seconds")
    rate_limited_max_elapsed: float = Field(
        3600.0, gt=0, description="a part answered only 'too fast' (45009, 429, ...) for this long fails; until "
                                  "then rate-limit answers do not count against max_attempts/max_elapsed")
    token_refreshes: int = Field(2, ge=0, le=10, description="token refetches per part on 40014/42001")

    def policy(self, rng: random.Random | None = None) -> RetryPolicy:
        return RetryPolicy(max_attempts=self.max_attempts, base_delay=self.base_delay, max_delay=self.max_delay,
                           max_elapsed=self.max_elapsed, rate_limited_min_delay=self.rate_limited_min_delay,
                           rate_limited_max_elapsed=self.rate_limited_max_elapsed,
                           token_refreshes=self.token_refreshes, rng=rng or random.Random())
