"""The idempotent producer every source uses: a record counts as delivered only once the broker acknowledged it.

confluent-kafka with `enable.idempotence`, `acks=all`, and `partitioner=murmur2_random` so keys land on the
partitions faust (aiokafka, murmur2) expects. `send`/`send_many`: a background thread serves per-record
delivery callbacks and resolves asyncio futures on the caller's loop. `send_batch` (the hot path of sources and
normalize): a second librdkafka producer with error-only reports, drained once per batch. `start_batch` (the
dispatch loop): the same producer, the records produced at once even while earlier batches are in flight.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from pipeline.envelope import Envelope
from pipeline.kafka.settings import KafkaSettings
from pipeline.logfilter import KAFKA_LOGGER


class DeliveryError(RuntimeError):
    """The broker did not acknowledge a record (after librdkafka's own retries)."""

    def __init__(self, topic: str, error: KafkaError | str) -> None:
        self.topic = topic
        self.code = error.code() if isinstance(error, KafkaError) else None
        super().__init__(f"delivery to {topic} failed: {error}")


@dataclass(slots=True, frozen=True)
class Delivered:
    topic: str
    partition: int
    offset: int


def producer_config(settings: KafkaSettings, **overrides: Any) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "bootstrap.servers": settings.bootstrap,
        "client.id": settings.client_id,
        "enable.idempotence": True,
        "acks": "all",
        "max.in.flight.requests.per.connection": 5,
        "partitioner": "murmur2_random",
        "compression.type": settings.compression,
        "linger.ms": settings.linger_ms,
        # measured (ops/bench ceiling phase): 512 KiB batches cost the client and the broker less per record
        # than 128 KiB, and a deeper local queue lets a large batch be enqueued without stalling on BufferError
        "batch.size": 524288,
        "queue.buffering.max.messages": 500000,
        "message.timeout.ms": 120000,
        "log_level": 3,
        "logger": KAFKA_LOGGER,  # through the connection-log limiter, not straight to stderr
    }
    conf.update(overrides)
    return conf


class _Batch:
    """Delivery bookkeeping of one send_many call. Reports arrive on the delivery thread only."""

    __slots__ = ("_count", "_done", "_expected", "_loop", "results")

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self._done: asyncio.Future[None] = loop.create_future()
        self._count = itertools.count(1)  # next() is atomic under the GIL: no lock on the hot path
        self._expected: int | None = None
        self.results: list[tuple[KafkaError | None, Message] | None] = []

    def report(self, index: int, err: KafkaError | None, msg: Message) -> None:
        self.results[index] = (err, msg)
        reported = next(self._count)
        expected = self._expected
        if expected is not None and reported >= expected:
            self._loop.call_soon_threadsafe(self._finish)

    def _finish(self) -> None:
        if not self._done.done():
            self._done.set_result(None)

    async def sealed(self, expected: int) -> None:
        """Wait for `expected` reports (all records are produced by now)."""
        self._expected = expected
        if expected == 0 or sum(r is not None for r in self.results) >= expected:
            self._finish()
        await self._done

    def outcomes(self) -> list[Delivered | DeliveryError]:
        out: list[Delivered | DeliveryError] = []
        for r in self.results:
            if r is None:
                out.append(DeliveryError("?", "no delivery report"))
                continue
            err, msg = r
            topic = msg.topic() or "?"
            out.append(DeliveryError(topic, err) if err is not None else
                       Delivered(topic, msg.partition() or 0, msg.offset() or 0))
        return out


class _BulkProducer:
    """The librdkafka producer behind send_batch: delivery reports for failures only, so an acknowledged
    record costs no Python callback. One batch at a time (the caller holds a lock): when `flush()` has
    nothing left, every record of the batch has its outcome, and a record without an error report was
    acknowledged by the broker (librdkafka gives every message exactly one outcome)."""

    def __init__(self, conf: dict[str, Any]) -> None:
        self.errors: list[tuple[str, bytes | None, KafkaError]] = []
        self.producer = Producer({**conf, "delivery.report.only.error": True, "on_delivery": self._on_error})

    def _on_error(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append((msg.topic() or "?", msg.value(), err))

    def drain(self) -> None:
        """Block until every record produced so far has its outcome (bounded by message.timeout.ms)."""
        while self.producer.flush(1.0) > 0:
            pass


class _Started:
    """One start_batch call: its records' error reports (a per-record callback that librdkafka invokes only on
    failure, so they are never confused with another batch's), and the future of its outcomes."""

    __slots__ = ("errors", "future", "refused", "topics", "values")

    def __init__(self, future: asyncio.Future[list[DeliveryError | None]]) -> None:
        self.future = future
        self.topics: list[str] = []
        self.values: list[bytes | None] = []
        self.errors: list[tuple[str, bytes | None, KafkaError]] = []
        self.refused: dict[int, DeliveryError] = {}

    def on_delivery(self, err: KafkaError | None, msg: Message) -> None:
        if err is not None:
            self.errors.append((msg.topic() or "?", msg.value(), err))

    def settle(self) -> None:
        if self.future.done():
            return
        out: list[DeliveryError | None] = (_outcomes(self.topics, self.values, self.errors) if self.errors
                                           else [None] * len(self.values))
        for i, failure in self.refused.items():
            out[i] = failure
        self.future.set_result(out)


def _produce_when_room(producer: Producer, topic: str, value: bytes | None, key: bytes | None,
                       on_delivery: Callable[[KafkaError | None, Message], None] | None = None) -> None:
    """Produce once the local queue has room: poll serves error reports only (an error-only producer's poll
    would otherwise sleep its whole timeout), so wait in short steps while the broker catches up.
    `on_delivery`: the record's own report callback, if it has one (else the producer's)."""
    while True:
        producer.poll(0.001)
        try:
            if on_delivery is None:
                producer.produce(topic, value, key)
            else:
                producer.produce(topic, value, key, on_delivery=on_delivery)
            return
        except BufferError:
            continue


def _outcomes(topics: Sequence[str], values: Sequence[bytes | Envelope | None],
              errors: list[tuple[str, bytes | None, KafkaError]]) -> list[DeliveryError | None]:
    """Per record None or its DeliveryError, from a drained bulk producer's error reports (matched by topic
    and value: the reports carry no index)."""
    out: list[DeliveryError | None] = [None] * len(values)
    if errors:
        where: dict[tuple[str, bytes], list[int]] = {}
        for i, (topic, value) in enumerate(zip(topics, values, strict=True)):
            payload = value.encode() if isinstance(value, Envelope) else value  # as it was produced
            where.setdefault((topic, payload or b""), []).append(i)
        for failed_topic, failed_value, err in errors:
            for i in where.get((failed_topic, failed_value or b""), []):
                out[i] = DeliveryError(failed_topic, err)
    return out


class EventProducer:
    """Async facade over one confluent-kafka Producer.

    `await send(...)` returns once the broker acknowledged the record; `await send_many(...)` pipelines many
    records and waits for all reports. `close()` flushes and reports how many records were left undelivered.
    """

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        conf = producer_config(settings, **overrides)
        self._producer = Producer(conf)
        self._bulk = _BulkProducer(conf)
        self._bulk_lock: asyncio.Lock | None = None
        self._started: list[_Started] = []  # start_batch batches not yet known to be acknowledged
        self._drainer: asyncio.Future[None] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name="kafka-delivery", daemon=True)
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return "EventProducer()"

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _produce(self, topic: str, key: bytes | None, value: bytes | None,
                 on_delivery: Callable[[KafkaError | None, Message], None],
                 headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                if headers:
                    self._producer.produce(topic, value, key, on_delivery=on_delivery, headers=list(headers))
                else:
                    self._producer.produce(topic, value, key, on_delivery=on_delivery)
                return
            except BufferError:
                # local queue full: backpressure. The delivery thread serves the reports (only it runs
                # callbacks, so the per-batch bookkeeping needs no lock); wait for it to make room.
                time.sleep(0.005)

    def _enqueue(
        self, loop: asyncio.AbstractEventLoop, topic: str, key: bytes | None, value: bytes,
        headers: Sequence[tuple[str, bytes]] | None,
    ) -> asyncio.Future[Delivered]:
        fut: asyncio.Future[Delivered] = loop.create_future()

        def _resolve(err: KafkaError | None, msg: Message) -> None:
            if fut.done():
                return
            if err is not None:
                fut.set_exception(DeliveryError(topic, err))
            else:
                fut.set_result(Delivered(msg.topic() or topic, msg.partition() or 0, msg.offset() or 0))

        def on_delivery(err: KafkaError | None, msg: Message) -> None:
            loop.call_soon_threadsafe(_resolve, err, msg)

        self._produce(topic, key, value, on_delivery, headers)
        return fut

    async def send(
        self, topic: str, value: bytes | Envelope, key: bytes | str | None = None,
        headers: Sequence[tuple[str, bytes]] | None = None,
    ) -> Delivered:
        if self._closed:
            raise RuntimeError("producer is closed")
        payload = value.encode() if isinstance(value, Envelope) else value
        k = key.encode() if isinstance(key, str) else key
        return await self._enqueue(asyncio.get_running_loop(), topic, k, payload, headers)

    async def send_batch(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope | None]]
    ) -> list[DeliveryError | None]:
        """(topic, key, value) triples -> per record None (acknowledged) or its DeliveryError, in input order,
        once every record has its outcome (a None value is a tombstone).

        Produced on a second librdkafka producer with error-only delivery reports and drained once per batch,
        so an acknowledged record costs one produce() and nothing else in Python (per-record reports cost more
        than the produce itself). Batches go one at a time; single `send()`s are not held up by them."""
        if self._closed:
            raise RuntimeError("producer is closed")
        if self._bulk_lock is None:
            self._bulk_lock = asyncio.Lock()
        async with self._bulk_lock:
            bulk = self._bulk
            bulk.errors.clear()
            topics, values, refused = self._produce_bulk(bulk, records)
            await asyncio.to_thread(bulk.drain)
            errors = list(bulk.errors)
        out = _outcomes(topics, values, errors)
        for i, failure in refused.items():
            out[i] = failure
        return out

    async def send_values(self, topic: str, keys: Sequence[bytes | None], values: Sequence[bytes]
                          ) -> list[DeliveryError | None]:
        """send_batch for records already encoded to one topic (the log pollers' hot path): parallel keys and
        values, so the per-record loop is one produce() call and nothing else."""
        if self._closed:
            raise RuntimeError("producer is closed")
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        if self._bulk_lock is None:
            self._bulk_lock = asyncio.Lock()
        async with self._bulk_lock:
            bulk = self._bulk
            bulk.errors.clear()
            producer = bulk.producer
            produce = producer.produce
            refused: dict[int, DeliveryError] = {}
            for i, (key, value) in enumerate(zip(keys, values, strict=True)):
                try:
                    produce(topic, value, key)
                except BufferError:
                    _produce_when_room(producer, topic, value, key)
                except KafkaException as exc:  # refused before it was queued (e.g. larger than message.max.bytes)
                    refused[i] = DeliveryError(topic, exc.args[0])
            await asyncio.to_thread(bulk.drain)
            errors = list(bulk.errors)
        if not errors and not refused:
            return [None] * len(values)
        out = _outcomes([topic] * len(values), values, errors)
        for i, failure in refused.items():
            out[i] = failure
        return out

    def start_batch(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | None]]
    ) -> asyncio.Future[list[DeliveryError | None]]:
        """send_batch, but the records are produced now, before the caller next awaits, also while earlier
        batches are in flight (send_batch waits for the previous batch's acknowledgements before it produces).
        The future resolves as send_batch returns, once every record has its outcome; futures of earlier calls
        resolve no later. For the dispatch loop: a round's notifications go out as soon as they exist."""
        if self._closed:
            raise RuntimeError("producer is closed")
        loop = asyncio.get_running_loop()
        batch = _Started(loop.create_future())
        producer = self._bulk.producer
        produce = producer.produce
        report = batch.on_delivery
        topics, values = batch.topics, batch.values
        for topic, key, value in records:
            k = key.encode() if isinstance(key, str) else key
            topics.append(topic)
            values.append(value)
            try:
                try:
                    produce(topic, value, k, on_delivery=report)
                except BufferError:
                    _produce_when_room(producer, topic, value, k, report)
            except KafkaException as exc:  # refused before it was queued (e.g. larger than message.max.bytes)
                batch.refused[len(values) - 1] = DeliveryError(topic, exc.args[0])
        self._started.append(batch)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain_started())
        return batch.future

    async def _drain_started(self) -> None:
        """Drain until no start_batch batch is pending: a drain that began after a batch was produced ends
        with every record of it reported (the same rule send_batch relies on)."""
        if self._bulk_lock is None:
            self._bulk_lock = asyncio.Lock()
        while self._started:
            ready, self._started = self._started, []
            async with self._bulk_lock:  # one drain at a time: every report is served before the next drain ends
                await asyncio.to_thread(self._bulk.drain)
            for batch in ready:
                batch.settle()

    @staticmethod
    def _produce_bulk(
        bulk: _BulkProducer, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope | None]]
    ) -> tuple[list[str], list[bytes | Envelope | None], dict[int, DeliveryError]]:
        """The per-record loop of send_batch, kept to one produce() call and two list appends per record (the
        topics and values name a failed record's index if the broker refuses one); records librdkafka refuses
        before queueing them come back by index."""
        producer = bulk.producer
        produce = producer.produce
        topics: list[str] = []
        values: list[bytes | Envelope | None] = []
        refused: dict[int, DeliveryError] = {}
        add_topic = topics.append
        add_value = values.append
        for topic, key, value in records:
            # the batch keeps the caller's value (an envelope is encoded again only if a report names a failure),
            # not its encoding: holding every encoding until the reports are in grew the heap page by page
            # (orjson writes into a 1 KiB block; measured 3.2 us per 430-byte envelope encoded and held)
            payload = value.encode() if isinstance(value, Envelope) else value
            k = key.encode() if isinstance(key, str) else key
            add_topic(topic)
            add_value(value)
            try:
                produce(topic, payload, k)
            except BufferError:
                _produce_when_room(producer, topic, payload, k)
            except KafkaException as exc:  # refused before it was queued (e.g. larger than message.max.bytes)
                refused[len(values) - 1] = DeliveryError(topic, exc.args[0])
        return topics, values, refused

    async def _send_all(self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope]]) -> _Batch:
        batch, n = self._produce_all(records)
        await batch.sealed(n)
        return batch

    def _produce_all(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope | None]]
    ) -> tuple[_Batch, int]:
        """Produce every record now, each with a delivery report into one _Batch; returns it and the count."""
        if self._closed:
            raise RuntimeError("producer is closed")
        batch = _Batch(asyncio.get_running_loop())
        report = batch.report
        results = batch.results
        produce = self._producer.produce
        partial = functools.partial
        n = 0
        for topic, key, value in records:
            payload = value.encode() if isinstance(value, Envelope) else value
            k = key.encode() if isinstance(key, str) else key
            results.append(None)
            try:
                produce(topic, payload, k, on_delivery=partial(report, n))
            except BufferError:
                self._produce(topic, k, payload, partial(report, n))
            n += 1
        return batch, n

    def enqueue_batch(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope | None]]
    ) -> asyncio.Future[list[Delivered | DeliveryError]]:
        """send_many's produce step done now, in order with any later produce (a None value is a tombstone);
        the future resolves with one outcome per record once every report is in. For a caller that must have
        its records enqueued before it next awaits (the dispatch loop commits offsets when the future is done,
        and flushes before a partition moves)."""
        batch, n = self._produce_all(records)

        async def outcomes() -> list[Delivered | DeliveryError]:
            await batch.sealed(n)
            return batch.outcomes()

        return asyncio.ensure_future(outcomes())

    async def send_many(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope]]
    ) -> list[Delivered]:
        """Like send_batch, but returns where each record landed and raises the first DeliveryError after all
        reports are in."""
        outcomes = (await self._send_all(records)).outcomes()
        for o in outcomes:
            if isinstance(o, DeliveryError):
                raise o
        return [o for o in outcomes if isinstance(o, Delivered)]

    def flush(self, timeout: float = 30.0) -> int:
        return int(self._producer.flush(timeout)) + int(self._bulk.producer.flush(timeout))

    def close(self, timeout: float = 30.0) -> int:
        """Flush, stop the delivery thread; returns records still undelivered (0 on a clean close)."""
        if self._closed:
            return 0
        remaining = self.flush(timeout)
        self._stop.set()
        self._thread.join(timeout=5)
        self._producer.poll(0)
        self._closed = True
        return remaining
