"""The idempotent producer every source uses: a record counts as delivered only on its delivery report.

confluent-kafka with `enable.idempotence`, `acks=all`, and `partitioner=murmur2_random` so keys land on the
partitions faust (aiokafka, murmur2) expects. A background thread serves delivery callbacks and resolves
asyncio futures on the caller's loop.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, Message, Producer

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
        "batch.size": 131072,
        "message.timeout.ms": 120000,
        "log_level": 3,
        "logger": KAFKA_LOGGER,  # through the connection-log limiter, not straight to stderr
    }
    conf.update(overrides)
    return conf


class EventProducer:
    """Async facade over one confluent-kafka Producer.

    `await send(...)` returns once the broker acknowledged the record; `await send_many(...)` pipelines many
    records and waits for all reports. `close()` flushes and reports how many records were left undelivered.
    """

    def __init__(self, settings: KafkaSettings, **overrides: Any) -> None:
        self._producer = Producer(producer_config(settings, **overrides))
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll_loop, name="kafka-delivery", daemon=True)
        self._thread.start()
        self._closed = False

    def __repr__(self) -> str:
        return "EventProducer()"

    def _poll_loop(self) -> None:
        while not self._stop.is_set():
            self._producer.poll(0.05)

    def _produce(self, topic: str, key: bytes | None, value: bytes,
                 on_delivery: Callable[[KafkaError | None, Message], None],
                 headers: Sequence[tuple[str, bytes]] | None = None) -> None:
        while True:
            try:
                self._producer.produce(topic, value=value, key=key, headers=list(headers or ()),
                                       on_delivery=on_delivery)
                return
            except BufferError:
                self._producer.poll(0.1)  # local queue full: backpressure, wait for the broker

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
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope]]
    ) -> list[Delivered | DeliveryError]:
        """(topic, key, value) triples -> one outcome per record, in input order, once every report is in.

        The loop is woken once for the whole batch (not once per record): per-record futures and
        call_soon_threadsafe cost more than the produce itself."""
        if self._closed:
            raise RuntimeError("producer is closed")
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()
        outcomes: list[Delivered | DeliveryError | None] = []
        lock = threading.Lock()
        state = {"pending": 0, "sealed": False}

        def finish() -> None:
            if not done.done():
                done.set_result(None)

        def reporter(index: int, topic: str) -> Callable[[KafkaError | None, Message], None]:
            def on_delivery(err: KafkaError | None, msg: Message) -> None:
                outcomes[index] = (DeliveryError(topic, err) if err is not None else
                                   Delivered(msg.topic() or topic, msg.partition() or 0, msg.offset() or 0))
                with lock:
                    state["pending"] -= 1
                    last = state["sealed"] and state["pending"] == 0
                if last:
                    loop.call_soon_threadsafe(finish)
            return on_delivery

        for topic, key, value in records:
            payload = value.encode() if isinstance(value, Envelope) else value
            k = key.encode() if isinstance(key, str) else key
            outcomes.append(None)
            with lock:
                state["pending"] += 1
            self._produce(topic, k, payload, reporter(len(outcomes) - 1, topic))
        with lock:
            state["sealed"] = True
            if state["pending"] == 0:
                finish()
        await done
        return [o if o is not None else DeliveryError("?", "no delivery report") for o in outcomes]

    async def send_many(
        self, records: Iterable[tuple[str, bytes | str | None, bytes | Envelope]]
    ) -> list[Delivered]:
        """Like send_batch, but raises the first DeliveryError after all reports are in."""
        outcomes = await self.send_batch(records)
        for o in outcomes:
            if isinstance(o, DeliveryError):
                raise o
        return [o for o in outcomes if isinstance(o, Delivered)]

    def flush(self, timeout: float = 30.0) -> int:
        return int(self._producer.flush(timeout))

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
