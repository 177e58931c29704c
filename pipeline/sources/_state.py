"""Small keyed state in compacted topics (exmail.state.*): the last value per key wins, None deletes.

Values are JSON objects written with the idempotent producer; a write counts only once its delivery report
arrives. Loading scans the topic from the beginning to its end offsets (compacted topics stay small).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import orjson

from pipeline.kafka import EventProducer
from pipeline.kafka.reader import TopicReader


class StateTopic:
    """Read-all / write-one access to one compacted state topic."""

    def __init__(self, producer: EventProducer, reader: TopicReader, topic: str) -> None:
        self._producer = producer
        self._reader = reader
        self.topic = topic

    def __repr__(self) -> str:
        return f"StateTopic({self.topic!r})"

    async def load(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every live key (starting with `prefix`) and its last value."""
        state: dict[str, dict[str, Any]] = {}

        def on_record(key: bytes | None, value: bytes | None) -> None:
            if key is None:
                return
            name = key.decode("utf-8", "replace")
            if not name.startswith(prefix):
                return
            if value is None:
                state.pop(name, None)
                return
            try:
                obj = orjson.loads(value)
            except orjson.JSONDecodeError:
                return
            if isinstance(obj, dict):
                state[name] = obj

        await self._reader.scan(self.topic, on_record)
        return state

    async def put(self, key: str, value: dict[str, Any] | None) -> None:
        await self.put_many([(key, value)])

    async def put_many(self, items: Iterable[tuple[str, dict[str, Any] | None]]) -> None:
        """Write all items and wait for every delivery report (raises the first DeliveryError)."""
        records = [
            (self.topic, key.encode(), cast(bytes, None) if value is None else orjson.dumps(value))
            for key, value in items
        ]
        if records:
            await self._producer.send_many(records)
