from __future__ import annotations

import base64
import re

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeline.sinks.sse._position import Position, PositionError

offsets = st.dictionaries(
    st.tuples(st.sampled_from(["notification", "alert", "event"]), st.integers(0, 63)),
    st.integers(0, 2**53),
    max_size=40,
)


@given(offsets)
def test_position_roundtrips_and_is_url_and_header_safe(values: dict[tuple[str, int], int]) -> None:
    encoded = Position(values).encode()
    assert re.fullmatch(r"[A-Za-z0-9_-]*", encoded)
    assert Position.decode(encoded) == Position(values)


def test_position_encodes_documented_json() -> None:
    encoded = Position({("notification", 1): 7, ("notification", 0): 12}).encode()
    raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
    assert raw == b'{"notification:0":12,"notification:1":7}'


def test_advance_points_after_the_record() -> None:
    pos = Position({("alert", 0): 0})
    pos.advance("alert", 0, 41)
    assert pos.offsets == {("alert", 0): 42}
    assert pos.kinds() == {"alert"}


def _b64(obj: object) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(obj)).rstrip(b"=").decode()


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not base64 !!",
        _b64([1, 2]),
        _b64({"notification:0": -1}),
        _b64({"notification:0": True}),
        _b64({"notification:0": 1.5}),
        _b64({"Notification:0": 1}),
        _b64({"notification": 1}),
        _b64({"notification:x": 1}),
        "A" * 9000,
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_decode_rejects_ids_this_server_did_not_write(text: str) -> None:
    with pytest.raises(PositionError):
        Position.decode(text)
