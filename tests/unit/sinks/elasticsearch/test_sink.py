"""Elasticsearch _bulk bodies: create with _id = the event id (replays are harmless 409s)."""

from __future__ import annotations

from collections.abc import Callable

import orjson

from pipeline.envelope import Envelope
from pipeline.sinks.elasticsearch import bulk_body, document

# RFC 5424 §6 in one regex: PRI VERSION TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG


EventFactory = Callable[..., Envelope]


def test_elasticsearch_bulk_body_is_create_with_the_event_id(audit_event: EventFactory) -> None:
    events = [audit_event(i) for i in range(3)]
    body = bulk_body(events, "exmail-events")
    assert body.endswith(b"\n")
    lines = body.split(b"\n")[:-1]
    assert len(lines) == 6
    for env, action, source in zip(events, lines[::2], lines[1::2], strict=True):
        assert orjson.loads(action) == {"create": {"_index": "exmail-events", "_id": env.id}}
        assert orjson.loads(source) == document(env)
        assert orjson.loads(source)["event"]["id"] == env.id
