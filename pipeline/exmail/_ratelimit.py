"""Client-side pacing: a concurrency cap for per-user endpoints. The per-corp and per-app token buckets are the
project's one TokenBucket (pipeline.ratelimit), taken with `reserve` so callers are served in arrival order.

Clock and sleep are injected so tests run on a fake clock without waiting.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

Clock = Callable[[], float]


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
