"""A LedgerStore on a compacted Kafka topic (e.g. exmail.state.actions, one partition).

`load()` reads the topic from the beginning to the end offsets taken at start; afterwards reads are served
from memory and every `put` is produced with the idempotent producer and returns only after the broker's
delivery report, so what the ledger says survives a crash of the worker.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from pipeline.kafka import EventProducer

_TIMEOUT = 15.0


class KafkaLedgerStore:
    def __init__(self, producer: EventProducer, bootstrap: str, topic: str) -> None:
        self._producer = producer
        self._bootstrap = bootstrap
        self.topic = topic
        self._data: dict[str, bytes] = {}
        self.loaded = False

    def __repr__(self) -> str:
        return f"KafkaLedgerStore({self.topic!r}, {len(self._data)} keys)"

    async def load(self) -> int:
        """Read the topic into memory; returns the number of live keys."""
        self._data = await asyncio.to_thread(_scan, self._bootstrap, self.topic)
        self.loaded = True
        return len(self._data)

    async def get(self, key: str) -> dict[str, Any] | None:
        if not self.loaded:
            raise RuntimeError("KafkaLedgerStore.load() must run before the ledger is used")
        raw = self._data.get(key)
        return None if raw is None else orjson.loads(raw)

    async def put(self, key: str, value: dict[str, Any] | None) -> None:
        if not self.loaded:
            raise RuntimeError("KafkaLedgerStore.load() must run before the ledger is used")
        payload = None if value is None else orjson.dumps(value)
        await self._producer.send(self.topic, payload, key.encode())  # type: ignore[arg-type]
        if payload is None:
            self._data.pop(key, None)
        else:
            self._data[key] = payload


_SETTLING = {KafkaError.NOT_LEADER_FOR_PARTITION, KafkaError.LEADER_NOT_AVAILABLE,
             KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._TRANSPORT, KafkaError._TIMED_OUT}


def _watermarks(consumer: Consumer, topic: str, partition: int) -> tuple[int, int]:
    """(low, high) offsets, waiting out a partition that has no leader yet (a topic just created)."""
    deadline = time.monotonic() + _TIMEOUT
    while True:
        try:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=_TIMEOUT)
            return int(low), int(high)
        except KafkaException as exc:
            if exc.args[0].code() not in _SETTLING or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _scan(bootstrap: str, topic: str) -> dict[str, bytes]:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"exmail-actions-ledger-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.partition.eof": True,
            "auto.offset.reset": "earliest",
            "log_level": 3,
        }
    )
    data: dict[str, bytes] = {}
    try:
        meta = consumer.list_topics(topic, timeout=_TIMEOUT).topics.get(topic)
        if meta is None or meta.error is not None:
            raise RuntimeError(f"ledger topic {topic} does not exist (create it compacted, one partition)")
        marks = {p: _watermarks(consumer, topic, p) for p in sorted(meta.partitions)}
        pending = {p for p, (low, high) in marks.items() if high > low}
        if not pending:
            return data
        consumer.assign([TopicPartition(topic, p, marks[p][0]) for p in sorted(pending)])
        idle = 0
        while pending:
            batch = consumer.consume(num_messages=1000, timeout=1.0)
            if not batch:
                idle += 1
                if idle > _TIMEOUT * 4:
                    raise TimeoutError(f"reading ledger topic {topic} stalled")
                continue
            idle = 0
            for msg in batch:
                p = msg.partition() or 0
                err = msg.error()
                if err is not None:
                    if err.code() == KafkaError._PARTITION_EOF:
                        pending.discard(p)
                        continue
                    raise RuntimeError(f"reading ledger topic {topic}[{p}] failed: {err}")
                offset = msg.offset() or 0
                key = msg.key()
                if offset < marks[p][1] and key is not None:
                    value = msg.value()
                    if value is None:
                        data.pop(key.decode(), None)
                    else:
                        data[key.decode()] = value
                if offset >= marks[p][1] - 1:
                    pending.discard(p)
        return data
    finally:
        consumer.close()
