"""Keyed state in compacted topics (exmail.state.*): the one place state is read back from and written to Kafka.

The last value per key wins and a tombstone deletes. Values are JSON. Reading scans the topic to the end
offsets seen when the read began (pipeline/kafka/reader.py; compacted topics stay small); following it after
that is reader.TopicTail. Three shapes, by who writes and when:

- `StateTopic`: read everything once, write one key at a time and wait for the broker's acknowledgement (the
  ingest process's cursors and directory snapshot).
- `CompactedState`: a dict kept in memory whose every change is handed to a writer (a stage that must write
  from a timer or batch its writes: the dispatcher's state, the delivery log).
- `read_compacted` / `load_compacted`: the latest value per key, blocking (in a thread) or through a
  TopicReader.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Any, cast

import orjson

from pipeline.kafka.producer import EventProducer
from pipeline.kafka.reader import TopicReader, scan

Writer = Callable[[bytes, bytes | None], None]
Decode = Callable[[bytes], Any]


class _Latest:
    """The `on_record` of a scan that keeps the latest decoded value per key (with `prefix`); values that do
    not decode are skipped (a compacted topic outlives the code that wrote it)."""

    def __init__(self, decode: Decode, prefix: str = "") -> None:
        self.state: dict[str, Any] = {}
        self._decode = decode
        self._prefix = prefix

    def __call__(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        name = key.decode("utf-8", "replace")
        if not name.startswith(self._prefix):
            return
        if value is None:
            self.state.pop(name, None)
            return
        try:
            self.state[name] = self._decode(value)
        except (orjson.JSONDecodeError, ValueError):
            return


def read_compacted(bootstrap: str, topic: str, *, decode: Decode = orjson.loads) -> dict[str, Any]:
    """The latest value per key of a compacted topic, read up to the end offsets seen now (blocking: call it
    through `asyncio.to_thread`). `decode=bytes` keeps the raw values."""
    latest = _Latest(decode)
    scan(bootstrap, topic, latest)
    return latest.state


async def load_compacted(reader: TopicReader, topic: str, *, prefix: str = "",
                         decode: Decode = orjson.loads) -> dict[str, Any]:
    """Like `read_compacted`, through a TopicReader (the real broker in a thread, or an in-memory fake)."""
    latest = _Latest(decode, prefix)
    await reader.scan(topic, latest)
    return latest.state


class StateTopic:
    """Read-all / write-one access to one compacted state topic whose values are JSON objects; a write counts
    only once its delivery report arrived (idempotent producer, acks=all)."""

    def __init__(self, producer: EventProducer, reader: TopicReader, topic: str) -> None:
        self._producer = producer
        self._reader = reader
        self.topic = topic

    def __repr__(self) -> str:
        return f"StateTopic({self.topic!r})"

    async def load(self, prefix: str = "") -> dict[str, dict[str, Any]]:
        """Every live key (starting with `prefix`) whose value is a JSON object, and that value."""
        state = await load_compacted(self._reader, self.topic, prefix=prefix)
        return {k: v for k, v in state.items() if isinstance(v, dict)}

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


class CompactedState:
    """get/put/delete/items over a dict, with every change also handed to `writer` as (key, value|None).

    For stages whose state changes outside a stream event (timers: the alert dispatcher's group_wait and
    repeat timers) or whose writes are merged per batch; the writer decides when they reach the topic."""

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
