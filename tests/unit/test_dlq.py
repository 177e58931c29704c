"""pipeline/dlq.py: the one dead-letter helper every stage uses; a letter keeps the reason, the origin and a
scrubbed payload, with a stable id."""

from __future__ import annotations

import orjson

from pipeline.dlq import DLQ_SCHEMA, DeadLetters, Letter, Origin, dead_letter
from pipeline.metrics import DLQ_RECORDS


def _count(stage: str, error_type: str) -> float:
    return DLQ_RECORDS.labels(stage, error_type)._value.get()


def test_letter_is_keyed_by_origin_topic_scrubbed_and_counted() -> None:
    dead = DeadLetters("p.exmail.dlq")
    before = _count("unit-stage", "EnvelopeError")
    letter = dead.letter(stage="unit-stage", reason="bad key S3CRET", error_type="EnvelopeError",
                         origin=Origin("p.exmail.raw.login", 2, 41, "corp/u"),
                         payload=b'{"corpsecret": "S3CRET", "x": 1}', secrets=frozenset({"S3CRET"}))
    assert isinstance(letter, Letter)
    assert (letter.topic, letter.key) == ("p.exmail.dlq", b"p.exmail.raw.login")
    body = orjson.loads(letter.value)
    assert body["schema"] == DLQ_SCHEMA
    assert body["data"]["origin"] == {"topic": "p.exmail.raw.login", "partition": 2, "offset": 41, "key": "corp/u"}
    assert body["data"]["payload"]["x"] == 1 and "S3CRET" not in letter.value.decode()
    assert "S3CRET" not in body["data"]["reason"]
    assert _count("unit-stage", "EnvelopeError") == before + 1


def test_wrap_keeps_a_prebuilt_envelope_and_counts_under_the_given_stage() -> None:
    env = dead_letter(stage="delivery.webhook", reason="gone", origin=Origin("p.exmail.notifications", 0, 7),
                      payload={"a": 1}, error_type="permanent")
    before = _count("delivery-unit", "dead_lettered")
    letter = DeadLetters("p.exmail.dlq").wrap(env, stage="delivery-unit", error_type="dead_lettered")
    assert letter.key == b"p.exmail.notifications"
    assert orjson.loads(letter.value)["id"] == env.id
    assert _count("delivery-unit", "dead_lettered") == before + 1


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
