"""Error classification tables: what is retried, what refreshes the token, what is dead-lettered."""

from __future__ import annotations

import httpx
import pytest

from pipeline.sinks.delivery.errors import (
    ErrorClass,
    classify_dingtalk,
    classify_exception,
    classify_feishu,
    classify_http_status,
    classify_wecom,
    feishu_reply,
    wecom_reply,
)

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


@pytest.mark.parametrize(("errcode", "klass"), [
    (0, OK), (130101, T), (410100, T), (-1, T), (310000, P), (300001, P), (460101, P), (99999, P)])
def test_dingtalk_errcodes(errcode: int, klass: ErrorClass) -> None:
    assert classify_dingtalk(errcode).error_class is klass


@pytest.mark.parametrize(("code", "klass"), [(0, OK), (11232, T), (19021, P), (19036, P), (19024, P), (19001, P)])
def test_feishu_codes(code: int, klass: ErrorClass) -> None:
    assert classify_feishu(code).error_class is klass


@pytest.mark.parametrize(("status", "klass"), [
    (200, None), (204, None), (500, T), (502, T), (503, T), (504, T), (408, T), (429, T),
    (400, P), (401, P), (403, P), (404, P), (413, P)])
def test_http_statuses(status: int, klass: ErrorClass | None) -> None:
    result = classify_http_status(status)
    assert (result.error_class if result else None) is klass


@pytest.mark.parametrize(("exc", "reason", "klass"), [
    (httpx.ReadTimeout("t"), "timeout", T), (httpx.ConnectTimeout("t"), "timeout", T),
    (httpx.ConnectError("c"), "connection_error", T), (httpx.RemoteProtocolError("r"), "connection_error", T),
    (httpx.UnsupportedProtocol("u"), "request_error", P)])
def test_transport_errors(exc: Exception, reason: str, klass: ErrorClass) -> None:
    result = classify_exception(exc)
    assert (result.reason, result.error_class) == (reason, klass)
    assert result.detail == type(exc).__name__  # never the message: it may carry the URL


def test_malformed_answers_are_retried() -> None:
    assert wecom_reply(200, None).error_class is T
    assert wecom_reply(200, {"errcode": "0"}).error_class is T
    assert wecom_reply(200, {"errcode": 0, "errmsg": "ok"}).ok


def test_feishu_old_and_new_answer_shapes() -> None:
    assert feishu_reply(200, {"StatusCode": 0, "StatusMessage": "success"}).ok
    assert feishu_reply(200, {"code": 19021, "msg": "sign match fail"}).error_class is P
