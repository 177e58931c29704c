"""Blocking topic reads: end offsets, and scanning a topic up to its end (state rebuilds at start-up).

Used from a worker thread (`asyncio.to_thread`). The consumer joins no group and commits nothing: it is
assigned partitions explicitly and stops at the high watermark taken when the scan began.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, Message, TopicPartition

from pipeline.logfilter import KAFKA_LOGGER

_TIMEOUT = 15.0
RECHECK_TIMEOUT = 0.5  # seconds a TopicTail waits for metadata when it looks for a topic created later


@dataclass(slots=True, frozen=True)
class ScanResult:
    records: int
    start: dict[int, int]
    end: dict[int, int]


OnRecord = Callable[[bytes | None, bytes | None], None]


class TopicReader(Protocol):
    """What sources read from Kafka (an in-memory fake implements it in unit tests)."""

    async def end_offsets(self, topic: str) -> dict[int, int]: ...

    async def scan(self, topic: str, on_record: OnRecord, start: Mapping[int, int] | None = None) -> ScanResult: ...


class KafkaReader:
    """TopicReader over the real broker; blocking calls run in a worker thread."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap

    def __repr__(self) -> str:
        return f"KafkaReader({self.bootstrap!r})"

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return await asyncio.to_thread(end_offsets, self.bootstrap, topic)

    async def scan(self, topic: str, on_record: OnRecord, start: Mapping[int, int] | None = None) -> ScanResult:
        return await asyncio.to_thread(scan, self.bootstrap, topic, on_record, start)


def groupless_consumer(bootstrap: str) -> Consumer:
    """A consumer that is assigned partitions explicitly, joins no group and commits nothing (scans, tails,
    the claim log); partition EOF events mark where the end was."""
    return Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"exmail-scan-{uuid.uuid4().hex}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "enable.partition.eof": True,
        "auto.offset.reset": "earliest",
        "log_level": 3,
        "logger": KAFKA_LOGGER,  # through the connection-log limiter, not straight to stderr
    })


def _partitions(consumer: Consumer, topic: str, timeout: float = _TIMEOUT) -> list[int]:
    meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
    if meta is None or meta.error is not None:
        return []
    return sorted(meta.partitions)


_TRANSIENT = {
    KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.UNKNOWN_TOPIC_OR_PART,
    KafkaError._TRANSPORT, KafkaError._TIMED_OUT, KafkaError.REQUEST_TIMED_OUT,
}


def _marks(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (low, high), retrying while a new topic's leaders are being elected."""
    deadline = time.monotonic() + _TIMEOUT * 2
    while True:
        try:
            return {
                p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT)
                for p in _partitions(consumer, topic)
            }
        except KafkaException as exc:
            error = exc.args[0] if exc.args else None
            code = error.code() if isinstance(error, KafkaError) else None
            if code not in _TRANSIENT or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def watermarks(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """partition -> (low, high) offsets; empty when the topic does not exist."""
    consumer = groupless_consumer(bootstrap)
    try:
        return _marks(consumer, topic)
    finally:
        consumer.close()


def offsets_after(bootstrap: str, topic: str, timestamp_ms: int) -> dict[int, int]:
    """partition -> the first offset whose record timestamp is at or after `timestamp_ms` (the high watermark
    when there is none): where a scan of "the last N seconds" starts."""
    consumer = groupless_consumer(bootstrap)
    try:
        marks = _marks(consumer, topic)
        if not marks:
            return {}
        found = consumer.offsets_for_times([TopicPartition(topic, p, timestamp_ms) for p in marks],
                                           timeout=_TIMEOUT)
        return {tp.partition: (tp.offset if tp.offset >= 0 else marks[tp.partition][1]) for tp in found}
    finally:
        consumer.close()


def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    return {p: high for p, (_, high) in watermarks(bootstrap, topic).items()}


def scan(bootstrap: str, topic: str, on_record: OnRecord, start: Mapping[int, int] | None = None) -> ScanResult:
    """Feed (key, value) of every record from `start` (default: the earliest offset; partitions missing from a
    given `start` are read from their earliest too) up to the high watermarks taken now."""
    return scan_messages(bootstrap, topic, lambda msg: on_record(msg.key(), msg.value()), start)


def scan_messages(bootstrap: str, topic: str, on_message: Callable[[Message], None],
                  start: Mapping[int, int] | None = None) -> ScanResult:
    """`scan`, feeding the whole record (for readers that need its partition, offset or time). A fetch that
    stays empty for a minute before the end raises TimeoutError: a scan never ends early without saying so."""
    consumer = groupless_consumer(bootstrap)
    try:
        marks = _marks(consumer, topic)
        begin = {p: max(low, (start or {}).get(p, low)) for p, (low, _) in marks.items()}
        end = {p: high for p, (_, high) in marks.items()}
        pending = {p for p in marks if begin[p] < end[p]}
        if not pending:
            return ScanResult(0, begin, end)
        consumer.assign([TopicPartition(topic, p, begin[p]) for p in sorted(pending)])
        count = 0
        idle = 0
        while pending:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            if not batch:
                idle += 1
                if idle * 1.0 > _TIMEOUT * 4:
                    raise TimeoutError(f"scan of {topic} stalled before the end offsets {end}")
                continue
            idle = 0
            for msg in batch:
                p = msg.partition() or 0
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                        continue
                    if err.code() in _TRANSIENT:  # e.g. a leader moving: librdkafka fetches again by itself
                        continue
                    raise RuntimeError(f"reading {topic}[{p}] failed: {err}")
                offset = msg.offset() or 0
                if offset >= end.get(p, 0):
                    pending.discard(p)
                    continue
                on_message(msg)
                count += 1
                if offset >= end[p] - 1:
                    pending.discard(p)
        return ScanResult(count, begin, end)
    finally:
        consumer.close()


class TopicTail:
    """Follow a topic from given offsets (typically a scan's end) without a group: `poll()` returns what has
    arrived since, without waiting. For state kept current after a rebuild, e.g. normalize's directory copy
    and the dispatcher's silences.

    A topic that did not exist when it was scanned (empty `start`) is looked for again at most every
    `recheck_seconds` and followed from its beginning once it exists, so a state topic created after this
    process started (exmail.state.directory, by the first directory poll) is still followed. Blocking calls:
    use from one thread (or accept a short stall: `poll()` never waits for records; a recheck asks the
    broker for metadata, waiting at most RECHECK_TIMEOUT while the broker is away)."""

    def __init__(self, bootstrap: str, topic: str, start: Mapping[int, int], *,
                 recheck_seconds: float = 5.0) -> None:
        self.topic = topic
        self._consumer = groupless_consumer(bootstrap)
        self._assigned: set[int] = set()
        self._recheck = recheck_seconds
        self._checked = time.monotonic()
        self._assign({p: o for p, o in start.items()})

    def __repr__(self) -> str:
        return f"TopicTail({self.topic!r}, partitions={sorted(self._assigned)})"

    def _assign(self, offsets: Mapping[int, int]) -> None:
        new = {p: o for p, o in offsets.items() if p not in self._assigned}
        if new:
            self._consumer.incremental_assign([TopicPartition(self.topic, p, o) for p, o in sorted(new.items())])
            self._assigned.update(new)

    def _new_partitions(self) -> None:
        """Assign, from their beginning, partitions that exist now and are not followed yet."""
        self._checked = time.monotonic()
        try:
            found = _partitions(self._consumer, self.topic, RECHECK_TIMEOUT)
        except KafkaException:
            return  # the broker is away: the next recheck tries again
        self._assign({p: OFFSET_BEGINNING for p in found if p not in self._assigned})

    def poll(self, max_records: int = 10_000) -> list[tuple[bytes | None, bytes | None]]:
        """(key, value) of the records that arrived, oldest first per partition."""
        if not self._assigned and time.monotonic() - self._checked >= self._recheck:
            self._new_partitions()
        out: list[tuple[bytes | None, bytes | None]] = []
        if not self._assigned:
            return out
        for msg in self._consumer.consume(num_messages=max_records, timeout=0):
            err = msg.error()
            if err is None:
                out.append((msg.key(), msg.value()))
            elif err.code() not in (KafkaError._PARTITION_EOF, KafkaError.UNKNOWN_TOPIC_OR_PART):
                raise RuntimeError(f"reading {self.topic}[{msg.partition()}] failed: {err}")
        return out

    def close(self) -> None:
        self._consumer.close()
