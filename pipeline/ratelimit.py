"""The project's one token bucket: async buckets sized to a destination's documented send limit (delivery
sinks, login-failure throttling) or to an API's rate (the Exmail client).

A destination limit reads "at most N messages per W seconds". A bucket with burst b refilling at r tokens/s
lets at most b + r*T sends through in any interval of length T, so `TokenBucket.per_window(N, W, burst=b)`
uses r = (N - b) / W: no window of W seconds (sliding or calendar-aligned) ever sees more than N sends, and
the first b sends go out without waiting. Several limits at once (Feishu: 5/s and 100/min) are a
`BucketGroup`; per-recipient limits (WeCom app: 30/min and 1000/h per member) are `KeyedBuckets`.

After a restart the process cannot know what the previous one sent in the last window, so the worker marks
the registry `cold`: every bucket it hands out starts empty (per-key buckets too, for the longest window after
the start). An empty bucket is the state of a sender that used its whole allowance just before the restart, so
the limit holds across any number of restarts; the cost is one refill interval before the first send.

Waiting never holds a lock: a check-and-take has no await in between, so it is atomic on the event loop,
and a sender for one member never queues behind a sender waiting for another. Two ways to take: `acquire`
waits until the tokens are there (several buckets at once, see `acquire_all`); `reserve` takes the token on
arrival and sleeps off the deficit, so concurrent callers of one bucket are served in arrival order (the
Exmail client's per-corp and per-app pacing).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import TypeVar

from pipeline.clock import SYSTEM_CLOCK, Clock

# A wait this short is float rounding after a sleep, not a real deficit; it widens a window by a
# microsecond, which cannot admit an extra whole send.
_SLACK_S = 1e-6

_B = TypeVar("_B")


class TokenBucket:
    def __init__(self, rate: float, burst: float, *, clock: Clock = SYSTEM_CLOCK) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"token bucket needs rate > 0 and burst >= 1 (got rate={rate}, burst={burst})")
        self.rate = rate
        self.burst = float(burst)
        self.clock = clock
        self._tokens = float(burst)
        self._stamp = clock.monotonic()

    @classmethod
    def per_window(cls, count: int, window_s: float, *, burst: int | None = None,
                   clock: Clock = SYSTEM_CLOCK) -> TokenBucket:
        """A bucket that admits at most `count` takes in any `window_s` interval (see module docstring).
        The default burst is a quarter of the window's allowance."""
        if count < 1 or window_s <= 0:
            raise ValueError(f"a send limit needs count >= 1 and a positive window (got {count}/{window_s}s)")
        if count == 1:
            return cls(rate=1 / window_s, burst=1, clock=clock)
        b = max(1, count // 4) if burst is None else burst
        if not 1 <= b < count:
            raise ValueError(f"burst must be between 1 and {count - 1} for a limit of {count} (got {b})")
        return cls(rate=(count - b) / window_s, burst=b, clock=clock)

    def _refill(self) -> None:
        now = self.clock.monotonic()
        if now > self._stamp:
            self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
            self._stamp = now

    def delay_for(self, n: float = 1.0) -> float:
        """Seconds until `n` tokens are available (0 when they are now)."""
        self._refill()
        missing = n - self._tokens
        return 0.0 if missing <= 0 else missing / self.rate

    def take(self, n: float = 1.0) -> None:
        self._tokens -= n

    def try_take(self, n: float = 1.0) -> bool:
        """Take `n` tokens if they are there now (no wait, nothing scheduled); False leaves the bucket as is."""
        if self.delay_for(n) > _SLACK_S:
            return False
        self._tokens -= n
        return True

    def drain(self) -> None:
        """Start from no tokens (a cold start: the allowance may have been used just before)."""
        self._refill()
        self._tokens = 0.0

    @property
    def full(self) -> bool:
        self._refill()
        return self._tokens >= self.burst

    @property
    def available(self) -> float:
        """Tokens available now (negative while `reserve` callers are queued)."""
        self._refill()
        return self._tokens

    async def acquire(self, n: float = 1.0) -> float:
        """Wait until `n` tokens are available and take them; returns the seconds waited."""
        return await acquire_all((self,), self.clock, n)

    async def reserve(self, n: float = 1.0) -> float:
        """Take `n` tokens now (the balance may go negative) and sleep until they have accrued: callers are
        served in arrival order. A cancelled waiter gives its tokens back. Returns the seconds waited."""
        self._refill()
        self._tokens -= n
        if self._tokens >= 0:
            return 0.0
        wait = -self._tokens / self.rate
        try:
            await self.clock.sleep(wait)
        except BaseException:
            self._tokens += n
            raise
        return wait


async def acquire_all(buckets: Sequence[TokenBucket], clock: Clock, n: float = 1.0) -> float:
    """Take `n` tokens from every bucket at the same instant, waiting for the slowest; seconds waited."""
    if not buckets:
        return 0.0
    start = clock.monotonic()
    while True:
        wait = max(b.delay_for(n) for b in buckets)
        if wait <= _SLACK_S:
            for b in buckets:
                b.take(n)
            return clock.monotonic() - start
        await clock.sleep(wait)


class BucketGroup:
    """Several limits that must all hold (e.g. 5 per second and 100 per minute)."""

    def __init__(self, buckets: Iterable[TokenBucket], *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.buckets = tuple(buckets)
        self.clock = clock

    def drain(self) -> None:
        for b in self.buckets:
            b.drain()

    async def acquire(self, n: float = 1.0) -> float:
        return await acquire_all(self.buckets, self.clock, n)


class KeyedBuckets:
    """One group of buckets per key (e.g. per WeCom member), created on first use and forgotten once full
    again, so memory stays proportional to recently active keys."""

    def __init__(self, factory: Callable[[], Sequence[TokenBucket]], *, clock: Clock = SYSTEM_CLOCK,
                 prune_above: int = 10_000) -> None:
        self._factory = factory
        self._clock = clock
        self._prune_above = prune_above
        self._by_key: dict[Hashable, Sequence[TokenBucket]] = {}
        self._drain_new_until = float("-inf")

    def drain(self, for_seconds: float) -> None:
        """Empty every key's buckets now, and those of keys first seen in the next `for_seconds`."""
        for bs in self._by_key.values():
            for b in bs:
                b.drain()
        self._drain_new_until = self._clock.monotonic() + for_seconds

    def __len__(self) -> int:
        return len(self._by_key)

    def buckets_for(self, key: Hashable) -> Sequence[TokenBucket]:
        found = self._by_key.get(key)
        if found is None:
            if len(self._by_key) >= self._prune_above:
                self._prune()
            found = self._by_key[key] = tuple(self._factory())
            if self._clock.monotonic() < self._drain_new_until:
                for b in found:
                    b.drain()
        return found

    def _prune(self) -> None:
        for key in [k for k, bs in self._by_key.items() if all(b.full for b in bs)]:
            del self._by_key[key]

    async def acquire(self, keys: Iterable[Hashable], n: float = 1.0) -> float:
        """Take `n` tokens for every key at once (one message to several members)."""
        buckets = [b for key in dict.fromkeys(keys) for b in self.buckets_for(key)]
        return await acquire_all(buckets, self._clock, n)


def window_bucket_factory(limits: Sequence[tuple[int, float]], clock: Clock,
                          burst_fraction: float = 0.25) -> Callable[[], list[TokenBucket]]:
    """Factory of buckets for several (count, window seconds) limits, for `KeyedBuckets`."""

    def make() -> list[TokenBucket]:
        return [TokenBucket.per_window(c, w, burst=_burst(c, burst_fraction), clock=clock) for c, w in limits]

    return make


def _burst(count: int, fraction: float) -> int | None:
    return None if count == 1 else min(count - 1, max(1, math.floor(count * fraction)))


# Per-key buckets created this long after a cold start begin empty too: the longest documented window (WeCom
# app: 1000 messages per member per hour).
COLD_WINDOW_S = 3600.0


class BucketRegistry:
    """Buckets shared by every sink instance that sends to the same destination (two receivers pointing
    at one robot must share its 20/min). Keys are destination fingerprints, never the credentials.
    With `cold` set (the worker sets it), every bucket handed out starts empty (module docstring)."""

    def __init__(self) -> None:
        self._buckets: dict[tuple[object, ...], object] = {}
        self.cold = False

    def get(self, key: tuple[object, ...], factory: Callable[[], _B]) -> _B:
        found = self._buckets.get(key)
        if found is None:
            found = self._buckets[key] = factory()
            if self.cold:
                if isinstance(found, KeyedBuckets):
                    found.drain(COLD_WINDOW_S)
                elif isinstance(found, TokenBucket | BucketGroup):
                    found.drain()
        return found  # type: ignore[return-value]


SHARED_BUCKETS = BucketRegistry()
