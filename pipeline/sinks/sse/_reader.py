"""One client's Kafka reader: a confluent-kafka Consumer with manual assignment (no group, no commits) polled
in a dedicated thread that feeds a bounded backlog the client's asyncio task drains.

The thread resolves the start offsets (earliest, latest, a time, or a resumed Position) into concrete
offsets before the first read, so the position a client is handed at the start is exact. When the backlog
stays full for `slow_client_seconds` (the client cannot keep up) the reader ends with "overflow" instead of
buffering more; librdkafka's own prefetch is capped by `queued.max.messages.kbytes`.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.kafka import KafkaSettings
from pipeline.sinks.sse._position import Position

log = logging.getLogger("pipeline.sinks.sse")

StartMode = Literal["latest", "earliest", "since"]
EndReason = Literal["overflow", "kafka_error"]
_MAX_BATCH = 500
_ENDING_ERRORS = frozenset({
    KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC, KafkaError._UNKNOWN_PARTITION,
    KafkaError.TOPIC_AUTHORIZATION_FAILED,
})


class StartError(RuntimeError):
    """The stream cannot start (topic missing, broker unreachable); the message is safe to show."""


@dataclass(frozen=True, slots=True)
class StartSpec:
    """Where a client starts: `resume` covers the kinds it names; other kinds start at `mode`."""

    mode: StartMode = "latest"
    since_ms: int | None = None
    resume: Position | None = None


@dataclass(frozen=True, slots=True)
class Gap:
    """A resumed offset outside the log: "expired" (deleted by retention) or "reset" (beyond the end, the
    topic was recreated). The stream continues at `resumed_at`, the log's first offset."""

    kind: str
    partition: int
    requested: int
    resumed_at: int
    reason: Literal["expired", "reset"]

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "partition": self.partition, "requested": self.requested,
                "resumed_at": self.resumed_at, "reason": self.reason}


@dataclass(slots=True)
class Opened:
    position: Position
    gaps: list[Gap] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KafkaRecord:
    topic: str
    partition: int
    offset: int
    value: bytes | None


@dataclass(frozen=True, slots=True)
class ReaderEnd:
    reason: EndReason
    detail: str


def consumer_config(kafka: KafkaSettings, prefetch_kbytes: int) -> dict[str, Any]:
    return {
        "bootstrap.servers": kafka.bootstrap,
        "client.id": f"{kafka.client_id}-sse",
        # librdkafka insists on a group id; with assign() and no commits the group is never joined
        "group.id": f"exmail-sse-{uuid.uuid4().hex[:12]}",
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "queued.max.messages.kbytes": prefetch_kbytes,
        "fetch.max.bytes": max(prefetch_kbytes * 1024, 1_048_576),
        "log_level": 3,
    }


class Backlog:
    """Records read but not yet written to the client: filled by the reader thread, drained by the loop."""

    def __init__(self, capacity: int, loop: asyncio.AbstractEventLoop) -> None:
        self.capacity = capacity
        self._items: deque[KafkaRecord] = deque()
        self._cond = threading.Condition()
        self._closed = False
        self._loop = loop
        self._wakeup = asyncio.Event()

    def __len__(self) -> int:
        return len(self._items)

    def wait_for_room(self, timeout: float) -> int | None:
        """Thread side: free slots (0 if the backlog stayed full for `timeout`), None once closed."""
        with self._cond:
            self._cond.wait_for(lambda: self._closed or len(self._items) < self.capacity, timeout)
            return None if self._closed else self.capacity - len(self._items)

    def put(self, records: list[KafkaRecord]) -> None:
        with self._cond:
            self._items.extend(records)
        _call_soon(self._loop, self._wakeup.set)

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    async def take(self, wait: float) -> list[KafkaRecord]:
        """Loop side: everything queued, waiting up to `wait` seconds for something to arrive."""
        self._wakeup.clear()
        if not self._items:
            try:
                await asyncio.wait_for(self._wakeup.wait(), wait)
            except TimeoutError:
                return []
        with self._cond:
            taken = list(self._items)
            self._items.clear()
            self._cond.notify_all()
        return taken


def _call_soon(loop: asyncio.AbstractEventLoop, fn: Callable[..., Any], *args: Any) -> None:
    try:
        loop.call_soon_threadsafe(fn, *args)
    except RuntimeError:  # the loop is closed: nobody is listening any more
        pass


class KafkaReader:
    """Start with `await open()`; drain `backlog`; `ended` resolves if the reader gives up; `stop()` +
    `await join()` closes the consumer."""

    def __init__(self, conf: dict[str, Any], topics: dict[str, str], start: StartSpec, *, backlog_size: int,
                 slow_client_seconds: float, poll_timeout: float, start_timeout: float, name: str) -> None:
        self._conf = conf
        self._topics = topics
        self._start = start
        self._slow_client_seconds = slow_client_seconds
        self._poll_timeout = poll_timeout
        self._start_timeout = start_timeout
        self._loop = asyncio.get_running_loop()
        self.backlog = Backlog(backlog_size, self._loop)
        self.ended: asyncio.Future[ReaderEnd] = self._loop.create_future()
        self._ready: asyncio.Future[Opened] = self._loop.create_future()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def open(self) -> Opened:
        self._thread.start()
        return await self._ready

    def stop(self) -> None:
        self._stop.set()
        self.backlog.close()

    async def join(self) -> None:
        if self._thread.is_alive():
            await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        try:
            consumer = Consumer(self._conf)
        except KafkaException as exc:
            _call_soon(self._loop, _set_exception, self._ready, StartError(f"cannot create consumer: {exc}"))
            return
        try:
            try:
                opened, assignment = self._resolve(consumer)
                consumer.assign(assignment)
            except (KafkaException, StartError) as exc:
                error = exc if isinstance(exc, StartError) else StartError(f"Kafka is unavailable: {exc}")
                _call_soon(self._loop, _set_exception, self._ready, error)
                return
            _call_soon(self._loop, _set_result, self._ready, opened)
            self._consume(consumer)
        except Exception as exc:
            log.exception("SSE reader %s failed", self._thread.name)
            self._end("kafka_error", f"reader failed: {type(exc).__name__}")
        finally:
            consumer.close()

    def _resolve(self, consumer: Consumer) -> tuple[Opened, list[TopicPartition]]:
        timeout = self._start_timeout
        opened = Opened(Position())
        assignment: list[TopicPartition] = []
        resume = self._start.resume
        for topic, kind in self._topics.items():
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if meta is None or meta.error is not None or not meta.partitions:
                raise StartError(f"topic {topic} is not available")
            parts = sorted(meta.partitions)
            marks = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout,
                                                       cached=False) for p in parts}
            since: dict[int, int] = {}
            resuming = resume is not None and kind in resume.kinds()
            if self._start.mode == "since" and not resuming:
                asked = [TopicPartition(topic, p, self._start.since_ms or 0) for p in parts]
                since = {tp.partition: tp.offset for tp in consumer.offsets_for_times(asked, timeout=timeout)}
            for p in parts:
                low, high = marks[p]
                if resuming:
                    assert resume is not None
                    offset = self._resumed(opened, kind, p, resume.offsets.get((kind, p)), low, high)
                elif self._start.mode == "earliest":
                    offset = low
                elif self._start.mode == "since":
                    offset = since[p] if since.get(p, -1) >= 0 else high
                else:
                    offset = high
                opened.position.offsets[(kind, p)] = offset
                assignment.append(TopicPartition(topic, p, offset))
        return opened, assignment

    @staticmethod
    def _resumed(opened: Opened, kind: str, partition: int, requested: int | None, low: int,
                 high: int) -> int:
        if requested is None:  # a partition added since the id was issued: all of it is new to the client
            return low
        if requested < low:
            opened.gaps.append(Gap(kind, partition, requested, low, "expired"))
            return low
        if requested > high:
            opened.gaps.append(Gap(kind, partition, requested, low, "reset"))
            return low
        return requested

    def _consume(self, consumer: Consumer) -> None:
        full_since: float | None = None
        while not self._stop.is_set():
            room = self.backlog.wait_for_room(self._poll_timeout)
            if room is None:
                return
            if room == 0:
                full_since = full_since if full_since is not None else time.monotonic()
                if time.monotonic() - full_since >= self._slow_client_seconds:
                    self._end("overflow", f"client read nothing of {self.backlog.capacity} pending records "
                                          f"for {self._slow_client_seconds:g}s")
                    return
                continue
            full_since = None
            records: list[KafkaRecord] = []
            for msg in consumer.consume(num_messages=min(room, _MAX_BATCH), timeout=self._poll_timeout):
                err = msg.error()
                if err is not None:
                    if err.fatal() or err.code() in _ENDING_ERRORS:
                        self._end("kafka_error", str(err))
                        return
                    log.warning("SSE reader %s: %s", self._thread.name, err)
                    continue
                records.append(KafkaRecord(msg.topic() or "", msg.partition() or 0, msg.offset() or 0,
                                           msg.value()))
            if records:
                self.backlog.put(records)

    def _end(self, reason: EndReason, detail: str) -> None:
        _call_soon(self._loop, _set_result, self.ended, ReaderEnd(reason, detail))


def _set_result(fut: asyncio.Future[Any], value: Any) -> None:
    if not fut.done():
        fut.set_result(value)


def _set_exception(fut: asyncio.Future[Any], exc: BaseException) -> None:
    if not fut.done():
        fut.set_exception(exc)
