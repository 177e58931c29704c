"""index_envelope (the audit unit's partial decode) gives the same audit row as a full decode, stores the
Kafka bytes as the record, and refuses what Envelope.decode refuses."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope, EnvelopeError
from pipeline.sinks.audit import index_envelope
from pipeline.sinks.audit._rows import prepare


@pytest.mark.parametrize("kw", [
    {}, {"user": None, "user_name": "bob"}, {"ip": "2001:db8::1"}, {"ip": "not an ip"}, {"action": None},
    {"extra": {"source": "odd type", "user": ["x"]}}, {"extra": {"event": None}},
])
def test_partial_decode_prepares_the_same_row(audit_event: Any, kw: dict[str, Any]) -> None:
    raw = audit_event(3, **kw).encode()
    full, partial = prepare(Envelope.decode(raw), raw), prepare(index_envelope(raw), raw)
    assert partial == full
    assert partial.record == raw.decode()


@pytest.mark.parametrize("raw", [
    b"{not json", b"[]", b"{}", b'"text"',
    b'{"schema":"a/1","id":"x","corp_id":"c","source":"s","observed_at":"o","occurred_at":"t","data":null}',
    b'{"schema":"a/1","id":"","corp_id":"c","source":"s","observed_at":"o","occurred_at":"t","data":{}}',
    b'{"schema":"a","id":"x","corp_id":"c","source":"s","observed_at":"o","occurred_at":"t","data":{}}',
    b'{"schema":"a/1","id":"x","corp_id":5,"source":"s","observed_at":"o","occurred_at":"t","data":{}}',
    b'{"schema":"a/1","id":"x","corp_id":"c","source":"s","observed_at":"o","occurred_at":"t","data":[1]}',
])
def test_refuses_what_envelope_decode_refuses(raw: bytes) -> None:
    with pytest.raises(EnvelopeError):
        Envelope.decode(raw)
    with pytest.raises(EnvelopeError):
        index_envelope(raw)


def test_keeps_only_the_indexed_parts_of_data(audit_event: Any) -> None:
    env = index_envelope(audit_event(1).encode())
    assert set(env.data) == {"event", "user", "source"}
    assert orjson.loads(audit_event(1).encode())["data"]["ocsf"]  # the full document is in the record instead
