"""A LedgerStore on a compacted Kafka topic (e.g. exmail.state.actions, one partition).

`load()` reads the topic from the beginning to the end offsets taken at start; afterwards reads are served
from memory and every `put` is produced with the idempotent producer and returns only after the broker's
delivery report, so what the ledger says survives a crash of the worker.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson

from pipeline.kafka import EventProducer
from pipeline.kafka.reader import end_offsets
from pipeline.kafka.state import read_compacted


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


def _scan(bootstrap: str, topic: str) -> dict[str, bytes]:
    """The latest value of every live key (tombstones remove keys), read up to the end offsets seen now."""
    if not end_offsets(bootstrap, topic):
        raise RuntimeError(f"ledger topic {topic} does not exist (create it compacted, one partition)")
    return read_compacted(bootstrap, topic, decode=bytes)
