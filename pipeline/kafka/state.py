"""Small keyed state kept in memory and made durable in a compacted Kafka topic.

For stages whose state changes outside a stream event (timers: the alert dispatcher's group_wait and repeat
timers), where faust tables cannot be written. Every change is written through `writer` (the faust app's
producer, so faust flushes it before committing input offsets); a restart rebuilds the dict by reading the
topic to its end. Values are JSON; a delete is a tombstone.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson

from pipeline.kafka.reader import scan

Writer = Callable[[bytes, bytes | None], None]


def read_compacted(bootstrap: str, topic: str) -> dict[str, Any]:
    """The latest JSON value per key of a compacted topic, read up to the end offsets seen now."""
    state: dict[str, Any] = {}

    def on_record(key: bytes | None, value: bytes | None) -> None:
        k = (key or b"").decode()
        if value is None:
            state.pop(k, None)
        else:
            state[k] = orjson.loads(value)

    scan(bootstrap, topic, on_record)
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
