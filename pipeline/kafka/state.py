"""Small keyed state kept in memory and made durable in a compacted Kafka topic.

For stages whose state changes outside a stream event (timers: the alert dispatcher's group_wait and repeat
timers), where faust tables cannot be written. Every change is written through `writer` (the faust app's
producer, so faust flushes it before committing input offsets); a restart rebuilds the dict by reading the
topic to its end. Values are JSON; a delete is a tombstone.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import orjson
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

Writer = Callable[[bytes, bytes | None], None]


def read_compacted(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[str, Any]:
    """The latest value per key of a compacted topic, read from the beginning to the end offsets seen now."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"state-load-{uuid.uuid4().hex[:8]}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest", "log_level": 3})
    state: dict[str, Any] = {}
    try:
        md = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
        if md is None or md.error is not None:
            return state
        ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                for p in md.partitions}
        pending = {p for p, end in ends.items() if end > 0}
        if not pending:
            return state
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in pending])
        while pending:
            msg = consumer.poll(timeout)
            if msg is None:
                raise TimeoutError(f"state topic {topic} did not deliver up to its end offsets")
            if msg.error():
                continue
            p, off = msg.partition() or 0, msg.offset() or 0
            if off >= ends[p] - 1:
                pending.discard(p)
            if off >= ends[p]:
                continue
            key = (msg.key() or b"").decode()
            value = msg.value()
            if value is None:
                state.pop(key, None)
            else:
                state[key] = orjson.loads(value)
    finally:
        consumer.close()
    return state


class CompactedState:
    """get/put/delete/items over a dict, with every change also handed to `writer` as (key, value|None)."""

    def __init__(self, writer: Writer, initial: dict[str, Any] | None = None) -> None:
        self._data: dict[str, Any] = dict(initial or {})
        self._writer = writer

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: str) -> Any | None:
        return self._data.get(key)

    def put(self, key: str, value: Any) -> None:
        """Write-through, skipping values equal to what is stored (timers re-put unchanged state)."""
        if self._data.get(key) == value:
            return
        self._data[key] = value
        self._writer(key.encode(), orjson.dumps(value))

    def delete(self, key: str) -> None:
        if self._data.pop(key, None) is not None:
            self._writer(key.encode(), None)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        for key in [k for k in self._data if k.startswith(prefix)]:
            yield key, self._data[key]

    def reset(self, data: dict[str, Any]) -> None:
        self._data = dict(data)
