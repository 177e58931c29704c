"""WeCom's errcode table: what is retried, what refreshes the token, what is dead-lettered."""

from __future__ import annotations

import pytest

from pipeline.sinks.delivery.errors import ErrorClass
from pipeline.sinks.wecom_app.errors import classify_wecom, wecom_reply

T, R, P, OK = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT, ErrorClass.OK


@pytest.mark.parametrize(("errcode", "klass", "rate_limited"), [
    (0, OK, False), (-1, T, False), (45009, T, True), (45033, T, True),
    (40014, R, False), (42001, R, False), (41001, R, False),
    (40008, P, False), (81013, P, False), (93000, P, False), (40058, P, False), (60020, P, False),
    (40001, P, False), (40013, P, False), (123456, P, False),
])
def test_wecom_errcodes(errcode: int, klass: ErrorClass, rate_limited: bool) -> None:
    result = classify_wecom(errcode, "msg")
    assert result.error_class is klass
    assert result.rate_limited is rate_limited
    assert result.errcode == errcode
    assert result.reason == ("ok" if errcode == 0 else f"errcode_{errcode}")


def test_malformed_answers_are_retried() -> None:
    assert wecom_reply(200, None).error_class is T
    assert wecom_reply(200, {"errcode": "0"}).error_class is T
    assert wecom_reply(200, {"errcode": 0, "errmsg": "ok"}).ok
