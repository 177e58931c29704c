"""EnvelopeBytes and UtcSeconds: the pollers' byte-level envelope writer gives exactly Envelope.encode()."""

from __future__ import annotations

from binascii import hexlify
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.envelope import Envelope, EnvelopeBytes, UtcSeconds, utc_iso

json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
              st.floats(allow_nan=False, allow_infinity=False), st.text()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)


@settings(max_examples=150, deadline=None)
@given(schema=st.text(min_size=1), corp=st.text(min_size=1), source=st.text(min_size=1), observed=st.text(),
       digest=st.binary(min_size=16, max_size=16), t=st.integers(-62135596800, 253402300799),
       record=st.dictionaries(st.text(max_size=8), json_values, max_size=6),
       context=st.dictionaries(st.text(max_size=8), json_values, max_size=3))
def test_envelope_bytes_equal_envelope_encode(schema: str, corp: str, source: str, observed: str, digest: bytes,
                                              t: int, record: dict[str, Any], context: dict[str, Any]) -> None:
    writer = EnvelopeBytes(schema, corp, source, observed, b'{"record":', b',"context":' + orjson.dumps(context) + b"}")
    occurred = UtcSeconds()(t)
    expected = Envelope(schema=schema, id=digest.hex(), corp_id=corp, source=source, occurred_at=utc_iso(float(t)),
                        observed_at=observed, data={"record": record, "context": context}).encode()
    assert writer.encode(hexlify(digest), occurred, orjson.dumps(record)) == expected


@settings(max_examples=500, deadline=None)
@given(st.integers(-62135596800, 253402300799))
def test_utc_seconds_is_utc_iso_of_whole_seconds(t: int) -> None:
    stamp = UtcSeconds()
    assert stamp(t) == utc_iso(float(t)).encode()
    assert stamp(t) == utc_iso(float(t)).encode()  # from the day cache


@pytest.mark.parametrize("t", [253402300800, -62135596801, 10**30])
def test_utc_seconds_refuses_what_utc_iso_refuses(t: int) -> None:
    with pytest.raises((ValueError, OverflowError, OSError)):
        UtcSeconds()(t)
