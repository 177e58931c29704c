"""BatchConsumer's loop: records reach the handler a batch at a time and are committed only after the handler
returned; a failing batch is re-read from its first offsets (nothing lost, nothing committed early); stop()
finishes the batch in hand, commits it and leaves the group. Against librdkafka's in-process mock cluster."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import Any

import pytest
from confluent_kafka import KafkaError, KafkaException, Message

from pipeline.kafka.batch import BatchConsumer, BatchRamp, ConsumeConfig, LoadingPartitions, commit_owned
from tests.unit._kafka_fakes import FakeMessage

from .conftest import MockKafka

FAST = ConsumeConfig(max_records=50, max_wait_seconds=0.05, session_timeout_seconds=3,
                     retry_initial_seconds=0.05, retry_max_seconds=0.2)


def _fill(mock_kafka: MockKafka, topic: str, per_partition: dict[int, int]) -> None:
    for partition, n in per_partition.items():
        mock_kafka.produce(topic, [(b"k", f"{partition}:{i}".encode()) for i in range(n)], partition=partition)


async def _run(consumer: BatchConsumer, handler: Any) -> None:
    await asyncio.wait_for(consumer.run(handler), timeout=60)


async def test_every_record_once_in_order_committed_and_resumed_from_there(mock_kafka: MockKafka) -> None:
    _fill(mock_kafka, "raw", {0: 120, 2: 7})
    consumer = BatchConsumer("normalize", mock_kafka.bootstrap, "g-normalize", ["raw"], FAST)
    seen: dict[int, list[int]] = defaultdict(list)
    sizes: list[int] = []

    async def handler(batch: list[Message]) -> None:
        sizes.append(len(batch))
        for m in batch:
            seen[m.partition() or 0].append(m.offset() or 0)
        if sum(map(len, seen.values())) >= 127:
            consumer.stop()

    await _run(consumer, handler)
    assert seen == {0: list(range(120)), 2: list(range(7))}
    assert max(sizes) <= FAST.max_records
    assert mock_kafka.committed("g-normalize", "raw") == {0: 120, 1: -1, 2: 7, 3: -1}
    progress = consumer.progress
    assert (progress.batches, progress.records, progress.last_error) == (len(sizes), 127, None)
    account = consumer.describe()
    assert account["records"] == 127 and account["stopping"] is True

    # the next member of the group (a restart) resumes from the commit: nothing read again, nothing skipped
    _fill(mock_kafka, "raw", {2: 3})
    restarted = BatchConsumer("normalize", mock_kafka.bootstrap, "g-normalize", ["raw"], FAST)
    offsets: list[int] = []

    async def rest(batch: list[Message]) -> None:
        offsets.extend(m.offset() or 0 for m in batch)
        if len(offsets) >= 3:
            restarted.stop()

    await _run(restarted, rest)
    assert offsets == [7, 8, 9]
    assert mock_kafka.committed("g-normalize", "raw")[2] == 10


async def test_a_failed_batch_is_read_again_and_only_committed_once_handled(mock_kafka: MockKafka) -> None:
    _fill(mock_kafka, "raw", {1: 10})
    consumer = BatchConsumer("audit", mock_kafka.bootstrap, "g-audit", ["raw"], FAST)
    attempts: list[list[int]] = []
    committed_during_failure: list[dict[int, int]] = []
    durable: list[int] = []

    async def handler(batch: list[Message]) -> None:
        offsets = [m.offset() or 0 for m in batch]
        attempts.append(offsets)
        if len(attempts) <= 2:  # the store is down twice
            committed_during_failure.append(await asyncio.to_thread(mock_kafka.committed, "g-audit", "raw"))
            raise ConnectionError("store unavailable")
        durable.extend(offsets)
        if len(set(durable)) == 10:
            consumer.stop()

    await _run(consumer, handler)
    assert attempts[0][0] == attempts[1][0] == attempts[2][0] == 0  # re-read from the batch's first offset
    assert sorted(set(durable)) == list(range(10))
    assert all(c[1] == -1 for c in committed_during_failure)  # nothing committed while the batch failed
    assert mock_kafka.committed("g-audit", "raw")[1] == 10
    # the last failure stays visible for the stall monitor's account
    assert consumer.progress.last_error == "ConnectionError: store unavailable"


class _Msg:
    def __init__(self, code: int | None) -> None:
        self._err = None if code is None else KafkaError(code)

    def error(self) -> KafkaError | None:
        return self._err

    def topic(self) -> str:
        return "raw"

    def partition(self) -> int:
        return 0


def test_end_of_partition_markers_are_dropped_and_other_errors_logged(caplog: pytest.LogCaptureFixture) -> None:
    consumer = BatchConsumer("normalize", "unused:9092", "g", ["raw"], FAST)
    good = _Msg(None)
    batch = [good, _Msg(KafkaError._PARTITION_EOF), _Msg(KafkaError.UNKNOWN_TOPIC_OR_PART)]
    with caplog.at_level("WARNING"):
        assert consumer._usable(batch) == [good]  # type: ignore[arg-type]
    assert [r.getMessage() for r in caplog.records if "consume error" in r.getMessage()] != []
    assert not any("PARTITION_EOF" in r.getMessage() for r in caplog.records)


class _CommitRecorder:
    def __init__(self, fail: bool = False) -> None:
        self.calls: list[tuple[list[tuple[str, int, int]], bool]] = []
        self.fail = fail

    def commit(self, *, offsets: list[Any], asynchronous: bool) -> None:
        if self.fail:
            raise KafkaException("rebalance in progress")
        self.calls.append(([(tp.topic, tp.partition, tp.offset) for tp in offsets], asynchronous))


def test_commit_owned_commits_only_the_partitions_still_owned() -> None:
    rec = _CommitRecorder()
    commit_owned(rec, "t.alerts", {0: 10, 1: 20, 2: 30}, {0, 2}, asynchronous=False, stage="dispatch")  # type: ignore[arg-type]
    assert rec.calls == [([("t.alerts", 0, 10), ("t.alerts", 2, 30)], False)]
    commit_owned(rec, "t.alerts", {1: 21}, {0, 2}, asynchronous=True, stage="dispatch")  # type: ignore[arg-type]
    assert len(rec.calls) == 1  # nothing owned: no commit call at all


def test_commit_owned_logs_a_commit_lost_to_a_rebalance(caplog: pytest.LogCaptureFixture) -> None:
    commit_owned(_CommitRecorder(fail=True), "t.n", {3: 7}, {3}, asynchronous=True,  # type: ignore[arg-type]
                 stage="delivery")
    assert any("delivery: commit of" in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)


class _PauseRecorder:
    def __init__(self, fail_resume: bool = False) -> None:
        self.calls: list[tuple[str, list[tuple[str, int]]]] = []
        self.fail_resume = fail_resume

    def pause(self, tps: list[Any]) -> None:
        self.calls.append(("pause", [(tp.topic, tp.partition) for tp in tps]))

    def resume(self, tps: list[Any]) -> None:
        if self.fail_resume:
            raise KafkaException("not assigned")
        self.calls.append(("resume", [(tp.topic, tp.partition) for tp in tps]))


def test_loading_partitions_hold_records_and_pause_only_once_the_partition_fetches() -> None:
    """Nothing is paused when partitions are taken (librdkafka#2190: a pause racing the fetcher's start can leave
    a partition that never fetches); the first record of a loading partition pauses it, later ones are held."""
    consumer = _PauseRecorder()
    loading = LoadingPartitions("t.alerts")
    loading.start([0, 1, 2])
    assert consumer.calls == [] and 1 in loading and 3 not in loading
    records = [FakeMessage("t", None, p, o) for p, o in ((1, 5), (3, 9), (1, 6), (0, 2))]
    assert [loading.hold(consumer, r) for r in records] == [True, False, True, True]  # type: ignore[arg-type]
    assert consumer.calls == [("pause", [("t.alerts", 1)]), ("pause", [("t.alerts", 0)])]

    released = loading.release(consumer, [1, 2])  # type: ignore[arg-type]
    assert [(r.partition(), r.offset()) for r in released] == [(1, 5), (1, 6)]  # arrival order
    assert consumer.calls[-1] == ("resume", [("t.alerts", 1)])  # 2 held nothing, so it was never paused
    assert 1 not in loading and 2 not in loading
    assert loading.hold(consumer, FakeMessage("t", None, 1, 7)) is False  # type: ignore[arg-type]  # released: not held

    consumer.calls.clear()
    assert loading.release(consumer, [0], resume=False)[0].offset() == 2  # type: ignore[arg-type]
    assert consumer.calls == []  # the caller keeps it paused (delivery's intake is paused for a full backlog)


def test_loading_partitions_dropped_forget_their_records_and_undo_their_pause() -> None:
    """A revoked or lost partition's held records are left uncommitted for the next owner, and its pause is
    undone: librdkafka keeps an application pause across a reassignment, so it would never fetch here again."""
    consumer = _PauseRecorder()
    loading = LoadingPartitions("t.n")
    loading.start([0, 1])
    for r in (FakeMessage("t", None, 0, 1), FakeMessage("t", None, 0, 2)):
        loading.hold(consumer, r)  # type: ignore[arg-type]
    assert loading.drop(consumer, [0, 1]) == 2  # type: ignore[arg-type]
    assert consumer.calls[-1] == ("resume", [("t.n", 0)]) and 0 not in loading and 1 not in loading
    loading.start([0])
    loading.hold(_PauseRecorder(), FakeMessage("t", None, 0, 3))  # type: ignore[arg-type]
    assert loading.drop(_PauseRecorder(fail_resume=True), [0]) == 1  # type: ignore[arg-type]
    assert loading.drop(None, [0]) == 0


def test_batch_ramp_starts_small_after_an_idle_poll_and_doubles_with_full_batches() -> None:
    ramp = BatchRamp(1000)
    sizes = []
    for got in (0, 50, 100, 200, 400, 800, 1000, 1000):  # a burst: every consume() returns all it may
        sizes.append(ramp.size)
        ramp.took(got)
    assert sizes == [50, 50, 100, 200, 400, 800, 1000, 1000]
    ramp.took(300)  # a partial batch: what was fetched is drained, the size stays
    assert ramp.size == 1000
    ramp.took(0)  # quiet again: the next burst starts small
    assert ramp.size == 50
    ramp.took(7)
    assert ramp.size == 50, "a trickle keeps the small size (its batches are small anyway)"
    assert BatchRamp(20).size == 20 and BatchRamp(1, first=1).size == 1
    with pytest.raises(ValueError, match="at least 1"):
        BatchRamp(0)
