"""The exmail.deliveries record: `encode` writes what `to_envelope().encode()` writes, without the Envelope."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.envelope import Envelope, fingerprint
from pipeline.sinks.delivery.outcome import DELIVERY_SCHEMA, DeliveryOutcome

_text = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_outcomes = st.builds(
    DeliveryOutcome, receiver=_text, sink=_text, kind=st.sampled_from(["webhook", "wecom_robot"]),
    notification_id=_text, group_key=_text, status=st.sampled_from(["delivered", "failed", "dead_lettered"]),
    attempts=st.integers(0, 9), parts=st.integers(0, 3), parts_delivered=st.integers(0, 3),
    latency_s=st.floats(0, 100, allow_nan=False), started_at=st.just("2026-12-07T18:00:00.123Z"),
    finished_at=st.just("2026-12-07T18:00:01.456Z"), errcode=st.none() | st.integers(-1, 99999),
    http_status=st.none() | st.integers(100, 599), reason=st.none() | _text, detail=st.none() | _text,
    operator_alert=st.booleans(), token_refreshes=st.integers(0, 2),
    invalid_recipients=st.lists(_text, max_size=2).map(tuple), corp_id=st.just("") | _text)


@settings(max_examples=200, deadline=None)
@given(outcome=_outcomes)
def test_encode_is_to_envelope_encode_byte_for_byte(outcome: DeliveryOutcome) -> None:
    assert outcome.encode() == outcome.to_envelope().encode()
    record = Envelope.decode(outcome.encode())
    assert (record.schema, record.corp_id, record.source) == (
        DELIVERY_SCHEMA, outcome.corp_id or "unknown", f"delivery.{outcome.kind}")
    assert record.observed_at == record.occurred_at == outcome.finished_at
    assert record.id == fingerprint("delivery", outcome.sink, outcome.notification_id, outcome.started_at,
                                    outcome.status)
    assert orjson.loads(outcome.encode())["data"] == orjson.loads(orjson.dumps(outcome.to_dict()))
