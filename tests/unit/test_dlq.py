"""Dead letters keep the reason, the origin and a scrubbed payload, with a stable id."""

from __future__ import annotations

import orjson

from pipeline.dlq import DLQ_SCHEMA, Origin, dead_letter


def test_dead_letter_keeps_reason_origin_and_scrubbed_payload() -> None:
    payload = orjson.dumps({"record": {"x": 1}, "access_token": "TOKEN123", "url": "/x?access_token=TOKEN123"})
    env = dead_letter(stage="normalize", reason="missing field 'time'", origin=Origin("exmail.raw.mail_log", 2, 17),
                      payload=payload, corp_id="wm1")
    assert env.schema == DLQ_SCHEMA
    assert env.data["reason"] == "missing field 'time'"
    assert env.data["origin"] == {"topic": "exmail.raw.mail_log", "partition": 2, "offset": 17, "key": None}
    assert b"TOKEN123" not in env.encode()
    assert env.data["payload"]["record"] == {"x": 1}


def test_dead_letter_keeps_unparseable_payload_as_text_and_id_is_stable() -> None:
    kw = dict(stage="normalize", reason="not JSON", origin=Origin("t", 0, 5), payload=b"\xff{oops")
    a, b = dead_letter(**kw), dead_letter(**kw)  # type: ignore[arg-type]
    assert isinstance(a.data["payload"], str)
    assert a.id == b.id
