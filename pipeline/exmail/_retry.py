"""When to retry and how long to wait: exponential backoff with full jitter inside a bounded budget.

Retried: -1 (ServerBusy), 45009 / HTTP 429 (RateLimited), HTTP 5xx, timeouts and connection errors
(retryable TransportError). Never retried: validation, not-found, permission and auth errors (the token
refresh on 40001/40014/42001 is a separate, single retry handled by the client).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pipeline.backoff import full_jitter
from pipeline.exmail._errors import ExmailError, RateLimited, ServerBusy, TransportError
from pipeline.exmail._settings import RetrySettings


def retry_reason(error: ExmailError) -> str | None:
    """A metrics-safe reason if `error` is worth retrying, else None."""
    if isinstance(error, TransportError):
        return error.reason if error.retryable else None
    if isinstance(error, RateLimited | ServerBusy):
        return f"errcode_{error.errcode}" if error.errcode is not None else "http_429"
    return None


@dataclass(frozen=True)
class Backoff:
    """Delay before retry n (n = 1 for the first retry): uniform(0, min(max_delay, base * 2**(n-1)))."""

    settings: RetrySettings
    rng: random.Random

    def delay(self, retry_number: int) -> float:
        return full_jitter(retry_number, self.settings.base_delay_seconds, self.settings.max_delay_seconds,
                           self.rng.random)

    def next_delay(self, attempts_made: int, elapsed: float) -> float | None:
        """The wait before the next attempt, or None when the budget (attempts or total time) is spent."""
        if attempts_made >= self.settings.max_attempts:
            return None
        wait = self.delay(attempts_made)
        if elapsed + wait > self.settings.max_total_seconds:
            return None
        return wait
