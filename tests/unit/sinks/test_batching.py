"""The shared batching loop: batch triggers, backpressure, retries, dead letters, acks after durability."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from pipeline.metrics import REGISTRY
from pipeline.sinks._batching import (
    BatchConfig,
    BatchingLoop,
    BatchOutcome,
    RetriableSinkError,
    SinkFailedError,
)


class FakeSink:
    """Records every batch; can be gated, fail a number of times, or ask for items to be retried/rejected."""

    def __init__(self) -> None:
        self.batches: list[list[str]] = []
        self.gate: asyncio.Event | None = None
        self.called = asyncio.Event()
        self.fail_times = 0
        self.fail_with: type[Exception] = RetriableSinkError
        self.retry_once: set[str] = set()
        self.reject: set[str] = set()

    async def send(self, batch: list[str]) -> BatchOutcome[str]:
        self.batches.append(list(batch))
        self.called.set()
        if self.gate is not None:
            await self.gate.wait()
        if self.fail_times:
            self.fail_times -= 1
            raise self.fail_with("destination down")
        retry = [i for i in batch if i in self.retry_once]
        self.retry_once -= set(retry)
        return BatchOutcome(retry=retry, retry_reason="item_429",
                            rejected=[(i, "mapping error") for i in batch if i in self.reject])


class Acks:
    def __init__(self) -> None:
        self.tokens: list[Any] = []
        self.event = asyncio.Event()
        self._cond = asyncio.Condition()

    async def __call__(self, tokens: list[Any]) -> None:
        async with self._cond:
            self.tokens.extend(tokens)
            self.event.set()
            self._cond.notify_all()

    async def wait_count(self, n: int) -> None:
        async with self._cond:
            await asyncio.wait_for(self._cond.wait_for(lambda: len(self.tokens) >= n), 5)


def make_loop(sink: FakeSink, acks: Acks | None = None, dead: list[tuple[str, str]] | None = None,
              sleeps: list[float] | None = None, name: str = "fake", **cfg: Any) -> BatchingLoop[str]:
    async def fake_sleep(delay: float) -> None:
        if sleeps is not None:
            sleeps.append(delay)

    async def dead_letter(items: list[tuple[str, str]]) -> None:
        assert dead is not None
        dead.extend(items)

    defaults: dict[str, Any] = {"max_records": 100, "max_bytes": 10_000, "max_age_seconds": 3600.0,
                                "retry_initial_seconds": 0.01, "retry_max_seconds": 0.08}
    return BatchingLoop(name, sink.send, BatchConfig(**{**defaults, **cfg}), size_of=lambda s: len(s),
                        on_ack=acks, dead_letter=dead_letter if dead is not None else None,
                        sleep=fake_sleep, rng=lambda: 1.0)


async def test_batch_is_cut_at_max_records_without_waiting_for_age() -> None:
    sink, acks = FakeSink(), Acks()
    async with make_loop(sink, acks, max_records=3) as loop:
        for i in range(7):
            await loop.put(f"r{i}", token=i)
        await acks.wait_count(6)
        assert sink.batches[:2] == [["r0", "r1", "r2"], ["r3", "r4", "r5"]]
    assert sink.batches[2] == ["r6"]  # flushed on stop
    assert acks.tokens == list(range(7))


async def test_batch_is_cut_at_max_bytes() -> None:
    sink = FakeSink()
    async with make_loop(sink, max_bytes=25) as loop:
        for i in range(5):
            await loop.put("x" * 10 + str(i))  # 11 bytes each
        await loop.flush()
    assert [len(b) for b in sink.batches] == [2, 2, 1]


async def test_partial_batch_is_sent_when_the_oldest_record_ages_out() -> None:
    sink, acks = FakeSink(), Acks()
    async with make_loop(sink, acks, max_age_seconds=0.05) as loop:
        await loop.put("only", token="t")
        await asyncio.wait_for(acks.event.wait(), 5)
    assert sink.batches == [["only"]]
    assert acks.tokens == ["t"]


async def test_put_blocks_when_the_loop_holds_its_maximum() -> None:
    sink = FakeSink()
    sink.gate = asyncio.Event()
    loop = make_loop(sink, max_records=2, queue_max_records=4)
    await loop.start()
    for i in range(4):
        await loop.put(f"r{i}")
    await asyncio.wait_for(sink.called.wait(), 5)
    blocked = asyncio.create_task(loop.put("r4"))
    for _ in range(20):
        await asyncio.sleep(0)
    assert not blocked.done()
    assert loop.held_records == 4
    sink.gate.set()
    await asyncio.wait_for(blocked, 5)
    await loop.flush()
    await loop.stop()
    assert [x for b in sink.batches for x in b] == [f"r{i}" for i in range(5)]


async def test_ack_only_after_the_batch_is_durable() -> None:
    sink, acks = FakeSink(), Acks()
    sink.gate = asyncio.Event()
    async with make_loop(sink, acks, max_records=2) as loop:
        await loop.put("a", token=1)
        await loop.put("b", token=2)
        await asyncio.wait_for(sink.called.wait(), 5)
        for _ in range(20):
            await asyncio.sleep(0)
        assert acks.tokens == []
        sink.gate.set()
        await loop.flush()
        assert acks.tokens == [1, 2]


async def test_retriable_failure_is_retried_with_growing_backoff_then_acked() -> None:
    sink, acks, sleeps = FakeSink(), Acks(), list[float]()
    sink.fail_times = 4
    before = REGISTRY.get_sample_value("exmail_sink_retries_total", {"sink": "retrying", "reason": "unavailable"})
    async with make_loop(sink, acks, sleeps=sleeps, name="retrying") as loop:
        await loop.put("a", token="ta")
        await loop.flush()
    assert len(sink.batches) == 5 and all(b == ["a"] for b in sink.batches)
    assert sleeps == [0.01, 0.02, 0.04, 0.08]  # rng=1.0: the full step, capped at retry_max_seconds
    assert acks.tokens == ["ta"]
    after = REGISTRY.get_sample_value("exmail_sink_retries_total", {"sink": "retrying", "reason": "unavailable"})
    assert (after or 0) - (before or 0) == 4
    assert (REGISTRY.get_sample_value("exmail_sink_records_total", {"sink": "retrying", "outcome": "written"})
            or 0) >= 1


async def test_only_failed_items_are_retried() -> None:
    sink = FakeSink()
    sink.retry_once = {"b", "d"}
    async with make_loop(sink) as loop:
        for x in "abcd":
            await loop.put(x)
        await loop.flush()
    assert sink.batches == [["a", "b", "c", "d"], ["b", "d"]]


async def test_rejected_items_are_dead_lettered_before_the_ack() -> None:
    sink, acks, dead = FakeSink(), Acks(), list[tuple[str, str]]()
    sink.reject = {"bad"}
    order: list[str] = []

    async def on_ack(tokens: list[Any]) -> None:
        order.append(f"ack:{len(dead)}")
        await acks(tokens)

    loop = BatchingLoop("dl", sink.send, BatchConfig(max_age_seconds=3600), size_of=len, on_ack=on_ack,
                        dead_letter=lambda items: _extend(dead, items))
    async with loop:
        for x in ("ok", "bad", "ok2"):
            await loop.put(x, token=x)
        await loop.flush()
    assert dead == [("bad", "mapping error")]
    assert order == ["ack:1"]
    assert acks.tokens == ["ok", "bad", "ok2"]


async def _extend(target: list[tuple[str, str]], items: list[tuple[str, str]]) -> None:
    target.extend(items)


async def test_rejections_without_a_dead_letter_handler_stop_the_loop_loudly() -> None:
    sink = FakeSink()
    sink.reject = {"bad"}
    loop = make_loop(sink)
    await loop.start()
    await loop.put("bad")
    with pytest.raises(SinkFailedError, match="no dead-letter handler"):
        await loop.flush()
    with pytest.raises(SinkFailedError):
        await loop.put("next")
    await loop.stop()


async def test_non_retriable_error_dead_letters_the_batch_and_moves_on() -> None:
    sink, acks, dead = FakeSink(), Acks(), list[tuple[str, str]]()
    sink.fail_times, sink.fail_with = 1, ValueError
    async with make_loop(sink, acks, dead=dead) as loop:
        await loop.put("a", token=1)
        await loop.flush()
        await loop.put("b", token=2)
        await loop.flush()
    assert dead == [("a", "ValueError: destination down")]
    assert acks.tokens == [1, 2]


async def test_max_attempts_gives_up_into_the_dead_letter_queue() -> None:
    sink, dead = FakeSink(), list[tuple[str, str]]()
    sink.fail_times = 10
    async with make_loop(sink, dead=dead, max_attempts=3) as loop:
        await loop.put("a")
        await loop.flush()
    assert len(sink.batches) == 3
    assert dead == [("a", "gave up after 3 attempts: destination down")]


async def test_stop_flushes_what_is_queued() -> None:
    sink, acks = FakeSink(), Acks()
    loop = make_loop(sink, acks)
    await loop.start()
    for i in range(3):
        await loop.put(str(i), token=i)
    await loop.stop()
    assert sink.batches == [["0", "1", "2"]]
    assert acks.tokens == [0, 1, 2]
    with pytest.raises(RuntimeError, match="stopping"):
        await loop.put("late")


async def test_stop_gives_up_after_the_shutdown_timeout_leaving_records_unacked() -> None:
    sink, acks = FakeSink(), Acks()
    sink.gate = asyncio.Event()
    loop = make_loop(sink, acks, shutdown_timeout_seconds=0.05)
    await loop.put("stuck", token=1)
    await loop.stop()
    assert acks.tokens == []
    assert loop.held_records == 1


async def test_queue_gauge_tracks_held_records() -> None:
    sink = FakeSink()
    sink.gate = asyncio.Event()
    loop = make_loop(sink, name="gauge")
    await loop.put("a")
    await loop.put("b")
    assert REGISTRY.get_sample_value("exmail_sink_queue_records", {"sink": "gauge"}) == 2
    sink.gate.set()
    await loop.flush()
    assert REGISTRY.get_sample_value("exmail_sink_queue_records", {"sink": "gauge"}) == 0
    await loop.stop()
