"""pipeline/kafka/state.py: the one compacted-state store (latest value per key, tombstones delete)."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import orjson

from pipeline.kafka.reader import OnRecord, ScanResult
from pipeline.kafka.state import CompactedState, StateTopic, load_compacted, read_compacted

from .conftest import MockKafka


class FakeTopic:
    """A TopicReader over in-memory records, and an EventProducer's send_many that appends to them."""

    def __init__(self) -> None:
        self.records: list[tuple[bytes | None, bytes | None]] = []

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {0: len(self.records)}

    async def scan(self, topic: str, on_record: OnRecord, start: Mapping[int, int] | None = None) -> ScanResult:
        for key, value in self.records:
            on_record(key, value)
        return ScanResult(len(self.records), {0: 0}, {0: len(self.records)})

    async def send_many(self, records: list[tuple[str, bytes | None, bytes | None]]) -> None:
        self.records.extend((k, v) for _, k, v in records)


def test_latest_value_wins_tombstones_delete_and_unreadable_values_are_skipped() -> None:
    topic = FakeTopic()
    topic.records = [(b"a", b'{"v": 1}'), (b"b", b'{"v": 2}'), (b"a", b'{"v": 3}'), (b"b", None),
                     (b"c", b"not json"), (None, b'{"v": 4}'), (b"p/x", b'{"v": 5}')]
    state = asyncio.run(load_compacted(topic, "t"))
    assert state == {"a": {"v": 3}, "p/x": {"v": 5}}
    assert asyncio.run(load_compacted(topic, "t", prefix="p/")) == {"p/x": {"v": 5}}
    assert asyncio.run(load_compacted(topic, "t", decode=bytes))["c"] == b"not json"


def test_state_topic_writes_are_read_back_and_only_objects_count() -> None:
    topic = FakeTopic()
    store = StateTopic(topic, topic, "p.exmail.state.cursors")  # type: ignore[arg-type]

    async def run() -> dict[str, dict[str, object]]:
        await store.put("corp/login", {"closed_through": "2026-12-01"})
        await store.put_many([("corp/mail", {"closed_through": "2026-12-02"}), ("corp/old", None)])
        topic.records.append((b"corp/list", b"[1, 2]"))
        return await store.load()

    assert asyncio.run(run()) == {"corp/login": {"closed_through": "2026-12-01"},
                                  "corp/mail": {"closed_through": "2026-12-02"}}


def test_compacted_state_hands_each_change_to_its_writer_once() -> None:
    writes: list[tuple[bytes, bytes | None]] = []
    state = CompactedState(lambda k, v: writes.append((k, v)), {"g/1": {"n": 1}})
    state.put("g/1", {"n": 1})  # unchanged: nothing written
    state.put("g/2", {"n": 2})
    state.delete("g/1")
    state.delete("g/missing")
    assert writes == [(b"g/2", orjson.dumps({"n": 2})), (b"g/1", None)]
    assert dict(state.items("g/")) == {"g/2": {"n": 2}} and len(state) == 1


def test_changes_are_written_through_and_unchanged_puts_are_not() -> None:
    written: list[tuple[bytes, bytes | None]] = []
    state = CompactedState(lambda k, v: written.append((k, v)), {"g:1": {"n": 1}})
    state.put("g:1", {"n": 1})  # same value: timers re-put unchanged state, nothing to write
    state.put("g:2", {"n": 2})
    state.put("g:1", {"n": 3})
    state.delete("g:2")
    state.delete("missing")  # nothing stored, no tombstone
    assert written == [(b"g:2", b'{"n":2}'), (b"g:1", b'{"n":3}'), (b"g:2", None)]
    assert len(state) == 1 and state.get("g:1") == {"n": 3} and state.get("g:2") is None


def test_items_by_prefix_and_reset() -> None:
    state = CompactedState(lambda k, v: None, {"group:a": 1, "group:b": 2, "nflog:a": 3})
    assert dict(state.items("group:")) == {"group:a": 1, "group:b": 2}
    assert dict(state.items()) == {"group:a": 1, "group:b": 2, "nflog:a": 3}
    state.reset({"x": 9})
    assert dict(state.items()) == {"x": 9}


def test_a_restart_rebuilds_what_the_writer_wrote(mock_kafka: MockKafka) -> None:
    written: list[tuple[bytes | None, bytes | None]] = []
    state = CompactedState(lambda k, v: written.append((k, v)))
    state.put("a", {"wait": 1})
    state.put("b", [1, 2])
    state.put("a", {"wait": 2})
    state.put("c", "x")
    state.delete("c")
    mock_kafka.produce("state", written)  # what the app's producer writes to the topic
    rebuilt: dict[str, Any] = read_compacted(mock_kafka.bootstrap, "state")
    assert rebuilt == {"a": {"wait": 2}, "b": [1, 2]} == dict(state.items())


def test_rebuild_of_a_missing_or_empty_topic_is_empty(mock_kafka: MockKafka) -> None:
    assert read_compacted(mock_kafka.bootstrap, "state.none") == {}
    mock_kafka.produce("state", [(b"k", orjson.dumps(1)), (b"k", None)])
    assert read_compacted(mock_kafka.bootstrap, "state") == {}
