"""The one token bucket on a manual clock: destination limits hold in every window, waits are reported; `reserve`
(the Exmail client's pacing) serves callers in arrival order."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from pipeline.clock import FunctionClock, ManualClock
from pipeline.ratelimit import (
    BucketGroup,
    BucketRegistry,
    KeyedBuckets,
    TokenBucket,
    window_bucket_factory,
)


def max_in_window(times: Sequence[float], window: float) -> int:
    """Most events in any closed interval of length `window` (the strictest reading of a limit)."""
    best, j = 0, 0
    for i, t in enumerate(times):
        while times[j] < t - window:
            j += 1
        best = max(best, i - j + 1)
    return best


async def take_times(acquire: object, clock: ManualClock, n: int) -> list[float]:
    times = []
    for _ in range(n):
        await acquire()  # type: ignore[operator]
        times.append(clock.monotonic())
    return times


async def test_robot_limit_twenty_per_minute_in_any_window() -> None:
    clock = ManualClock()
    bucket = TokenBucket.per_window(20, 60.0, burst=5, clock=clock)
    times = await take_times(bucket.acquire, clock, 200)
    assert max_in_window(times, 60.0) <= 20
    assert times[:5] == [0.0] * 5  # the burst goes out at once
    assert times[5] == pytest.approx(60 / 15)  # then one every (60 / (20 - 5)) s
    # and it is not overly slow: 200 sends take about (200 - 5) * 4 s
    assert times[-1] == pytest.approx(195 * 4.0)


async def test_acquire_returns_the_wait() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=0.5, burst=1, clock=clock)
    assert await bucket.acquire() == 0.0
    assert await bucket.acquire() == pytest.approx(2.0)


async def test_feishu_two_limits_together() -> None:
    clock = ManualClock()
    group = BucketGroup([TokenBucket.per_window(5, 1.0, clock=clock), TokenBucket.per_window(100, 60.0, clock=clock)],
                        clock=clock)
    times = await take_times(group.acquire, clock, 400)
    assert max_in_window(times, 1.0) <= 5
    assert max_in_window(times, 60.0) <= 100


async def test_concurrent_acquirers_share_the_limit() -> None:
    clock = ManualClock()
    bucket = TokenBucket.per_window(20, 60.0, clock=clock)
    times: list[float] = []

    async def one() -> None:
        await bucket.acquire()
        times.append(clock.monotonic())

    await asyncio.gather(*(one() for _ in range(100)))
    assert len(times) == 100
    assert max_in_window(sorted(times), 60.0) <= 20


async def test_keyed_buckets_are_independent_per_member() -> None:
    clock = ManualClock()
    keyed = KeyedBuckets(window_bucket_factory([(30, 60.0), (1000, 3600.0)], clock), clock=clock)
    alice = await take_times(lambda: keyed.acquire(["alice"]), clock, 90)
    assert max_in_window(alice, 60.0) <= 30
    start = clock.monotonic()
    assert await keyed.acquire(["bob"]) == 0.0  # bob's bucket is full regardless of alice
    assert clock.monotonic() == start
    # a message to both waits for the slower one and charges both
    waited = await keyed.acquire(["alice", "bob"])
    assert waited > 0


async def test_keyed_buckets_hourly_limit() -> None:
    clock = ManualClock()
    keyed = KeyedBuckets(window_bucket_factory([(30, 60.0), (100, 3600.0)], clock), clock=clock)
    times = await take_times(lambda: keyed.acquire(["alice"]), clock, 250)
    assert max_in_window(times, 3600.0) <= 100
    assert max_in_window(times, 60.0) <= 30


def test_keyed_buckets_forget_idle_members() -> None:
    clock = ManualClock()
    keyed = KeyedBuckets(window_bucket_factory([(30, 60.0)], clock), clock=clock, prune_above=3)
    for k in "abc":
        keyed.buckets_for(k)[0].take()
    clock.advance(3600)
    keyed.buckets_for("d")
    assert len(keyed) == 1


@pytest.mark.parametrize(("count", "burst"), [(0, None), (20, 20), (20, 0)])
def test_bad_limits_are_refused(count: int, burst: int | None) -> None:
    with pytest.raises(ValueError):
        TokenBucket.per_window(count, 60.0, burst=burst)


async def test_restarts_with_cold_buckets_never_pass_the_limit() -> None:
    """Each 'process' sends as fast as its bucket allows, then dies; the next one starts from a cold registry.
    Across four restarts in two minutes no 60 s window sees more than 20 sends."""
    clock = ManualClock()
    times: list[float] = []
    for life in range(5):
        registry = BucketRegistry()
        registry.cold = life > 0  # the very first start may use the burst
        bucket = registry.get(("robot",), lambda: TokenBucket.per_window(20, 60.0, burst=5, clock=clock))
        start = clock.monotonic()
        while clock.monotonic() - start < 25.0:
            await bucket.acquire()
            times.append(clock.monotonic())
    assert max_in_window(times, 60.0) <= 20
    assert len(times) > 20  # and sending went on at the destination's pace


async def test_cold_keyed_buckets_start_empty_for_keys_first_seen_after_the_start() -> None:
    clock = ManualClock()
    registry = BucketRegistry()
    registry.cold = True
    keyed = registry.get(("app",), lambda: KeyedBuckets(window_bucket_factory([(30, 60.0)], clock), clock=clock))
    waited = await keyed.acquire(["member-1"])
    assert waited > 0  # no burst right after a restart


def test_try_take_takes_only_what_is_there_and_never_passes_the_limit() -> None:
    clock = ManualClock()
    bucket = TokenBucket.per_window(20, 60.0, burst=5, clock=clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]  # the burst, then nothing
    assert 0 < bucket.delay_for() <= 60 / 15
    times = []
    for _ in range(2000):  # poll every 0.1 s for 200 s: a non-waiting taker still keeps every window's limit
        if bucket.try_take():
            times.append(clock.monotonic())
        clock.advance(0.1)
    assert max_in_window(times, 60.0) <= 20
    assert len(times) >= 48  # and it gets the whole refill rate: (20 - 5) / 60 s for 200 s is 50


async def test_bucket_serves_the_burst_at_once_then_one_token_per_interval() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=2, burst=3, clock=clock)
    waits = [await bucket.reserve() for _ in range(5)]
    assert waits == [0, 0, 0, 0.5, 0.5]


async def test_bucket_queues_concurrent_callers_in_arrival_order() -> None:
    clock = ManualClock()

    async def frozen_time_sleep(seconds: float) -> None:
        await asyncio.sleep(0)

    bucket = TokenBucket(rate=1, burst=2, clock=FunctionClock(clock.monotonic, frozen_time_sleep))
    waits = await asyncio.gather(*(bucket.reserve() for _ in range(5)))
    assert waits == [0, 0, 1, 2, 3]


async def test_bucket_refills_while_idle_but_never_above_the_burst() -> None:
    clock = ManualClock()
    bucket = TokenBucket(rate=1, burst=2, clock=clock)
    await bucket.reserve()
    await bucket.reserve()
    clock.advance(100)
    assert bucket.available == 2
    waits = [await bucket.reserve() for _ in range(3)]
    assert waits == [0, 0, 1]


async def test_cancelled_waiter_gives_its_reserved_token_back() -> None:
    clock = ManualClock()

    async def never_wakes(seconds: float) -> None:
        await asyncio.Event().wait()

    bucket = TokenBucket(rate=1, burst=1, clock=FunctionClock(clock.monotonic, never_wakes))
    await bucket.reserve()
    waiter = asyncio.ensure_future(bucket.reserve())
    await asyncio.sleep(0)
    assert bucket.available == -1
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert bucket.available == 0


def test_bucket_rejects_nonsense_parameters() -> None:
    clock = ManualClock()
    with pytest.raises(ValueError):
        TokenBucket(rate=0, burst=1, clock=clock)
    with pytest.raises(ValueError):
        TokenBucket(rate=1, burst=0, clock=clock)
