"""CompactedState writes every change through (and only changes), and read_compacted rebuilds the same dict from
the compacted topic: the latest value per key, a tombstone deleting it."""

from __future__ import annotations

from typing import Any

import orjson

from pipeline.kafka.state import CompactedState, read_compacted

from .conftest import MockKafka


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
