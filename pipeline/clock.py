"""Time as a dependency: token buckets, retries and token caches read the clock and sleep through this
interface, so tests (and simulations) can run minutes of rate-limited traffic in milliseconds."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Protocol


class Clock(Protocol):
    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (intervals, bucket refills, token expiry)."""
        ...

    def time(self) -> float:
        """Unix time in seconds (signing timestamps, outcome timestamps)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()


class FunctionClock:
    """A Clock from a monotonic function and a sleep coroutine (the Exmail client takes its time that way)."""

    def __init__(self, monotonic: Callable[[], float], sleep: Callable[[float], Awaitable[None]],
                 wall: Callable[[], float] = time.time) -> None:
        self._monotonic = monotonic
        self._sleep = sleep
        self._wall = wall

    def monotonic(self) -> float:
        return self._monotonic()

    def time(self) -> float:
        return self._wall()

    async def sleep(self, seconds: float) -> None:
        await self._sleep(seconds)


class ManualClock:
    """A clock that only moves when someone sleeps on it (or calls `advance`): a sleep of d seconds moves
    time forward to at least now + d and returns at once. Wall time and monotonic time move together."""

    def __init__(self, start: float = 1_800_000_000.0) -> None:
        self._start = start
        self._elapsed = 0.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self._elapsed

    def time(self) -> float:
        return self._start + self._elapsed

    def advance(self, seconds: float) -> None:
        if seconds > 0:
            self._elapsed += seconds

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)
