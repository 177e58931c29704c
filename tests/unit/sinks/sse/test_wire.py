from __future__ import annotations

import orjson

from pipeline.sinks.sse._wire import (
    SseEvent,
    SseParser,
    format_comment,
    format_event,
    format_position,
    format_retry,
)


def _feed(parser: SseParser, payload: bytes) -> list[SseEvent]:
    events: list[SseEvent] = []
    for line in payload.decode().split("\n"):
        events.extend(parser.feed(line))
    return events


def test_event_block_roundtrips_through_the_parser() -> None:
    data = orjson.dumps({"text": "line1\nline2", "zh": "告警"})
    payload = format_retry(2500) + format_event("notification", data, "abc") + format_comment("keepalive")
    parser = SseParser()
    events = _feed(parser, payload)
    assert [(e.event, e.id) for e in events] == [("notification", "abc")]
    assert events[0].json() == {"text": "line1\nline2", "zh": "告警"}
    assert parser.retry_ms == 2500
    assert parser.comments == 1


def test_block_without_data_moves_the_last_event_id_without_dispatching() -> None:
    parser = SseParser(last_event_id="old")
    assert _feed(parser, format_position("new", "keepalive")) == []
    assert parser.last_event_id == "new"
    assert parser.comments == 1


def test_parser_follows_the_spec_for_fields() -> None:
    parser = SseParser()
    lines = ["data:a", "data: b", "event:x", "id: 1\0", "retry: soon", ""]
    events = [e for line in lines for e in parser.feed(line)]
    assert len(events) == 1
    assert events[0].data == "a\nb" and events[0].event == "x" and events[0].id is None
    assert parser.retry_ms is None
    assert [e.event for e in parser.feed("data: y")] + [e.event for e in parser.feed("")] == ["message"]
