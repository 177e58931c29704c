"""Envelope, fingerprint and record ids: the identity every hop depends on."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.envelope import (
    Envelope,
    EnvelopeError,
    fingerprint,
    parse_iso,
    record_key,
    seeded_fingerprint,
    utc_iso,
)
from pipeline.records import raw_id, with_occurrences


def test_fingerprint_is_deterministic_128_bit_hex() -> None:
    a = fingerprint("mail_log", "wm1", {"b": 1, "a": 2})
    assert a == fingerprint("mail_log", "wm1", {"a": 2, "b": 1})
    assert len(a) == 32 and int(a, 16) >= 0


def test_fingerprint_length_prefix_keeps_concatenations_apart() -> None:
    assert fingerprint("ab", "c") != fingerprint("a", "bc")
    assert fingerprint(1) != fingerprint("1")
    assert fingerprint(None) != fingerprint("null")


@given(st.lists(st.one_of(st.text(), st.integers(-2**63, 2**63 - 1), st.none()), max_size=6))
def test_fingerprint_of_any_json_fields_is_stable(fields: list) -> None:
    assert fingerprint(*fields) == fingerprint(*orjson.loads(orjson.dumps(fields)))


def test_envelope_round_trip() -> None:
    env = Envelope(schema="exmail.raw.mail_log/1", id="x" * 32, corp_id="wm1", source="mail_log",
                   occurred_at=utc_iso(1_700_000_000), data={"record": {"time": 1_700_000_000}})
    back = Envelope.decode(env.encode())
    assert back == env
    assert back.schema_name == "exmail.raw.mail_log" and back.schema_version == 1


@pytest.mark.parametrize(("payload", "reason"), [
    (b"not json", "not JSON"),
    (b"[]", "JSON object"),
    (b'{"schema": "a/1"}', "missing"),
    (b'{"schema": "nover", "id": "i", "corp_id": "c", "source": "s", "observed_at": "o", "occurred_at": "o",'
     b' "data": {}}', "name/1"),
    (b'{"schema": "a/1", "id": "i", "corp_id": "c", "source": "s", "observed_at": "o", "occurred_at": "o",'
     b' "data": []}', "'data'"),
    (b'{"schema": "a/1", "id": "", "corp_id": "c", "source": "s", "observed_at": "o", "occurred_at": "o",'
     b' "data": {}}', "'id'"),
])
def test_envelope_decode_rejects_with_a_clear_reason(payload: bytes, reason: str) -> None:
    with pytest.raises(EnvelopeError, match=reason):
        Envelope.decode(payload)


def test_utc_iso_round_trip_and_format() -> None:
    s = utc_iso(1_700_000_000.5)
    assert s == "2023-11-14T22:13:20.500Z"
    assert parse_iso(s).timestamp() == 1_700_000_000.5


def test_record_key_is_corp_slash_subject() -> None:
    assert record_key("wm1", "alice@example.com") == b"wm1/alice@example.com"


def test_raw_id_numbers_identical_records_by_occurrence() -> None:
    rec = {"mailtype": 1, "sender": "a@x.com", "receiver": "b@y.com", "subject": "hi", "time": 1, "status": 3}
    numbered = list(with_occurrences("mail_log", [rec, dict(rec), {**rec, "status": 2}]))
    assert [n for n, _ in numbered] == [0, 1, 0]
    ids = {raw_id("wm1", "mail_log", r, n) for n, r in numbered}
    assert len(ids) == 3


def test_raw_id_of_login_depends_on_user_context() -> None:
    rec = {"time": 1, "ip": "1.2.3.4", "type": 1}
    assert raw_id("wm1", "login_log", rec, 0, {"userid": "a@x.com"}) != raw_id(
        "wm1", "login_log", rec, 0, {"userid": "b@x.com"})
    assert raw_id("wm1", "login_log", rec, 0, {"userid": "a@x.com"}) != raw_id(
        "wm2", "login_log", rec, 0, {"userid": "a@x.com"})


def test_utc_iso_equals_the_strftime_form_for_any_instant() -> None:
    """utc_iso caches the text of each second; it must still be exact, also where microsecond rounding carries
    into the next second and for datetimes in other zones."""
    def reference(ts: float | datetime) -> str:
        dt = ts.astimezone(UTC) if isinstance(ts, datetime) else datetime.fromtimestamp(ts, UTC)
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"

    rng = random.Random(11)
    instants: list[float | datetime] = [0.0, 1e9 + 0.9999996, 1e9 + 0.9995, 1796637974.587, -86400.25]
    instants += [rng.uniform(-2e9, 4e9) for _ in range(20_000)]
    instants += [rng.randint(0, 2**31) + rng.choice([0.0, 0.0000004, 0.9999996, 0.5]) for _ in range(20_000)]
    instants.append(datetime(2026, 1, 1, 23, 59, 59, 999999, tzinfo=timezone(timedelta(hours=8))))
    for ts in instants:
        assert utc_iso(ts) == reference(ts), ts


@given(st.lists(st.one_of(st.text(max_size=20), st.integers(-(2**63), 2**63 - 1), st.none()), max_size=4),
       st.lists(st.text(max_size=10), min_size=1, max_size=3))
def test_seeded_fingerprint_is_the_fingerprint_of_seed_and_fields(fields: list[object], seed: list[str]) -> None:
    assert seeded_fingerprint(tuple(seed), *fields) == fingerprint(*seed, *fields)


def _utc_iso_by_datetime(ts: float) -> str:
    dt = datetime.fromtimestamp(ts, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


@given(st.floats(min_value=0, max_value=253402300798, allow_nan=False))
def test_utc_iso_of_a_number_is_what_datetime_gives(ts: float) -> None:
    """The number path skips datetime (a cached second's text plus the milliseconds): same text, including the
    half-even rounding of the microseconds at the edges of a second."""
    utc_iso(ts)  # fill the second's cache, then the fast path answers
    assert utc_iso(ts) == _utc_iso_by_datetime(ts)


@pytest.mark.parametrize("ts", [0.0, 1.0, 1.9999995, 1.0000005, 1764000000.9995, 1764000000.999999,
                                1764000000.0004999, 253402300799.0, 1764000000])
def test_utc_iso_at_the_edges(ts: float) -> None:
    utc_iso(ts)
    assert utc_iso(ts) == _utc_iso_by_datetime(ts)
