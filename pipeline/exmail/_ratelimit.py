"""Client-side pacing: async token buckets (per corp, per app) and a concurrency cap for per-user endpoints.

Clock and sleep are injected so tests run on a fake clock without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


class TokenBucket:
    """`rate` tokens per second, at most `burst` stored. Callers reserve a token on arrival and sleep until it
    has accrued, so waiters are served in arrival order and no lock is held while sleeping."""

    def __init__(self, rate: float, burst: int, *, clock: Clock, sleep: Sleep) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("token bucket needs rate > 0 and burst >= 1")
        self.rate = rate
        self.burst = burst
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(burst)
        self._updated = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(float(self.burst), self._tokens + (now - self._updated) * self.rate)
        self._updated = now

    @property
    def available(self) -> float:
        """Tokens available now (negative while callers are queued)."""
        self._refill()
        return self._tokens

    async def acquire(self) -> float:
        """Take one token, waiting if needed; returns the seconds waited."""
        self._refill()
        self._tokens -= 1.0
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self.rate
        try:
            await self._sleep(wait)
        except BaseException:
            self._tokens += 1.0
            raise
        return wait


class ConcurrencyLimit:
    """A semaphore that reports how long each caller waited for a slot."""

    def __init__(self, limit: int, *, clock: Clock) -> None:
        if limit < 1:
            raise ValueError("concurrency limit must be >= 1")
        self.limit = limit
        self._clock = clock
        self._semaphore = asyncio.Semaphore(limit)
        self.in_use = 0

    @asynccontextmanager
    async def slot(self, on_wait: Callable[[float], None]) -> AsyncIterator[None]:
        started = self._clock()
        async with self._semaphore:
            on_wait(self._clock() - started)
            self.in_use += 1
            try:
                yield
            finally:
                self.in_use -= 1
