"""Blocking topic reads: watermarks and end offsets, a scan that stops at the end offsets taken when it began
(from the earliest offset or from given positions), offsets by timestamp, a tail that never waits, and the async
KafkaReader over the same calls."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from confluent_kafka import KafkaError, Producer, TopicPartition

from pipeline.kafka import reader
from pipeline.kafka.reader import KafkaReader, ScanResult, TopicTail, end_offsets, offsets_after, scan, watermarks

from .conftest import MOCK_PARTITIONS, MockKafka


def _records(n: int, tag: str = "v") -> list[tuple[bytes | None, bytes | None]]:
    return [(b"k%d" % i, f"{tag}{i}".encode()) for i in range(n)]


def test_watermarks_and_end_offsets(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(3), partition=0)
    mock_kafka.produce("t", _records(1), partition=2)
    assert watermarks(mock_kafka.bootstrap, "t") == {0: (0, 3), 1: (0, 0), 2: (0, 1), 3: (0, 0)}
    assert end_offsets(mock_kafka.bootstrap, "t") == {0: 3, 1: 0, 2: 1, 3: 0}


def test_a_missing_topic_has_no_partitions_and_scans_nothing(mock_kafka: MockKafka) -> None:
    assert watermarks(mock_kafka.bootstrap, "t.none") == {}
    seen: list[tuple[bytes | None, bytes | None]] = []
    assert scan(mock_kafka.bootstrap, "t.none", lambda k, v: seen.append((k, v))) == ScanResult(0, {}, {})
    assert seen == []


def test_scan_reads_every_partition_in_order_up_to_the_end(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(4, "a"), partition=0)
    mock_kafka.produce("t", [(b"x", None), (b"y", b"b1")], partition=3)
    seen: list[tuple[bytes | None, bytes | None]] = []
    result = scan(mock_kafka.bootstrap, "t", lambda k, v: seen.append((k, v)))
    assert result.records == 6
    assert result.start == dict.fromkeys(range(MOCK_PARTITIONS), 0)
    assert result.end == {0: 4, 1: 0, 2: 0, 3: 2}
    assert [r for r in seen if r[0] in (b"x", b"y")] == [(b"x", None), (b"y", b"b1")]  # tombstones included
    assert [r for r in seen if r[0] not in (b"x", b"y")] == _records(4, "a")


def test_scan_from_given_positions_and_earliest_for_partitions_not_given(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(5, "a"), partition=0)
    mock_kafka.produce("t", _records(2, "b"), partition=1)
    seen: list[bytes | None] = []
    result = scan(mock_kafka.bootstrap, "t", lambda k, v: seen.append(v), start={0: 3})
    assert sorted(v or b"" for v in seen) == [b"a3", b"a4", b"b0", b"b1"]
    assert result.start[0] == 3 and result.start[1] == 0
    # a position at the end reads nothing from that partition; nothing pending at all returns at once
    again = scan(mock_kafka.bootstrap, "t", lambda k, v: None, start={0: 5, 1: 2})
    assert again.records == 0 and again.start == again.end == {0: 5, 1: 2, 2: 0, 3: 0}


def test_scan_stops_at_the_end_taken_when_it_began(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(3), partition=0)
    late = Producer({"bootstrap.servers": mock_kafka.bootstrap, "log_level": 0})
    seen: list[bytes | None] = []

    def on_record(key: bytes | None, value: bytes | None) -> None:
        if not seen:  # a record arriving during the scan belongs to the next one
            late.produce("t", value=b"late", partition=0)
            late.flush(10)
        seen.append(value)

    result = scan(mock_kafka.bootstrap, "t", on_record)
    assert result.records == 3 and seen == [b"v0", b"v1", b"v2"]
    assert end_offsets(mock_kafka.bootstrap, "t")[0] == 4


class _TimeIndexedConsumer:
    """A consumer over one topic whose records carry timestamps: librdkafka's mock cluster answers every
    ListOffsets-by-time with "none", so the time index is faked here (the broker semantics: the first offset
    whose timestamp is at or after the time asked, -1 when there is none)."""

    def __init__(self, topic: str, timestamps: dict[int, list[int]]) -> None:
        self.topic = topic
        self.timestamps = timestamps
        self.closed = False

    def list_topics(self, topic: str, timeout: float) -> Any:
        parts = {p: None for p in self.timestamps} if topic == self.topic else {}
        meta = SimpleNamespace(partitions=parts, error=None)
        return SimpleNamespace(topics={topic: meta} if parts else {})

    def get_watermark_offsets(self, tp: TopicPartition, timeout: float) -> tuple[int, int]:
        return 0, len(self.timestamps[tp.partition])

    def offsets_for_times(self, tps: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        out = []
        for tp in tps:
            found = [i for i, ts in enumerate(self.timestamps[tp.partition]) if ts >= tp.offset]
            out.append(TopicPartition(tp.topic, tp.partition, found[0] if found else -1))
        return out

    def close(self) -> None:
        self.closed = True


def test_offsets_after_a_timestamp(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _TimeIndexedConsumer("t", {0: [1_000, 2_000, 3_000], 1: [500], 2: []})
    monkeypatch.setattr(reader, "groupless_consumer", lambda bootstrap: fake)
    # the first record at or after the time; none that recent (or an empty partition): the high watermark
    assert offsets_after("unused:9092", "t", 1_500) == {0: 1, 1: 1, 2: 0}
    assert offsets_after("unused:9092", "t", 1_000) == {0: 0, 1: 1, 2: 0}
    assert fake.closed
    assert offsets_after("unused:9092", "t.none", 1_000) == {}


def test_tail_returns_what_arrived_since_without_waiting(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(2), partition=0)
    start = end_offsets(mock_kafka.bootstrap, "t")
    tail = TopicTail(mock_kafka.bootstrap, "t", start)
    try:
        mock_kafka.produce("t", [(b"n1", b"new1"), (b"n2", None)], partition=0)
        got: list[tuple[bytes | None, bytes | None]] = []
        deadline = time.monotonic() + 10
        while len(got) < 2 and time.monotonic() < deadline:  # a poll returns at once; records arrive by fetch
            got += tail.poll()
            time.sleep(0.02)
        assert got == [(b"n1", b"new1"), (b"n2", None)]
        assert tail.poll() == []
    finally:
        tail.close()


async def test_kafka_reader_runs_the_same_calls_off_the_loop(mock_kafka: MockKafka) -> None:
    mock_kafka.produce("t", _records(3), partition=1)
    reader = KafkaReader(mock_kafka.bootstrap)
    assert mock_kafka.bootstrap in repr(reader)
    assert (await reader.end_offsets("t"))[1] == 3
    seen: list[bytes | None] = []
    result = await reader.scan("t", lambda k, v: seen.append(v), {1: 1})
    assert result.records == 2 and seen == [b"v1", b"v2"]


class _Msg:
    def __init__(self, partition: int, offset: int, value: bytes | None = None, error: Any = None) -> None:
        self._p, self._o, self._v, self._e = partition, offset, value, error

    def partition(self) -> int:
        return self._p

    def offset(self) -> int:
        return self._o

    def key(self) -> bytes | None:
        return None

    def value(self) -> bytes | None:
        return self._v

    def error(self) -> Any:
        return self._e


class _LeaderMovingConsumer(_TimeIndexedConsumer):
    """One partition with two records, and a NOT_LEADER_FOR_PARTITION fetch error before them (what a consumer
    reports while a partition's leader moves or a new topic's leader is elected)."""

    def __init__(self, error_code: int) -> None:
        super().__init__("t", {0: [1, 2]})
        self._batches = [[_Msg(0, -1, error=KafkaError(error_code))], [_Msg(0, 0, b"a"), _Msg(0, 1, b"b")]]

    def assign(self, tps: list[TopicPartition]) -> None:
        pass

    def consume(self, num_messages: int, timeout: float) -> list[_Msg]:
        return self._batches.pop(0) if self._batches else []


def test_a_scan_reads_on_through_a_transient_fetch_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "groupless_consumer", lambda bootstrap: _LeaderMovingConsumer(
        KafkaError.NOT_LEADER_FOR_PARTITION))
    seen: list[bytes | None] = []
    assert scan("unused:9092", "t", lambda k, v: seen.append(v)).records == 2
    assert seen == [b"a", b"b"]


def test_a_scan_stops_loudly_on_an_error_that_is_not_transient(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(reader, "groupless_consumer", lambda bootstrap: _LeaderMovingConsumer(
        KafkaError.TOPIC_AUTHORIZATION_FAILED))
    with pytest.raises(RuntimeError, match=r"reading t\[0\] failed"):
        scan("unused:9092", "t", lambda k, v: None)
