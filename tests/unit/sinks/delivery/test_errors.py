"""What every destination shares: HTTP statuses and transport failures, classified."""

from __future__ import annotations

import httpx
import pytest

from pipeline.sinks.delivery import _h1
from pipeline.sinks.delivery.errors import ErrorClass, classify_exception, classify_http_status

T, R, P, OK = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT, ErrorClass.OK


@pytest.mark.parametrize(("status", "klass"), [
    (200, None), (204, None), (500, T), (502, T), (503, T), (504, T), (408, T), (429, T),
    (400, P), (401, P), (403, P), (404, P), (413, P)])
def test_http_statuses(status: int, klass: ErrorClass | None) -> None:
    result = classify_http_status(status)
    assert (result.error_class if result else None) is klass


@pytest.mark.parametrize(("exc", "reason", "klass"), [
    (httpx.ReadTimeout("t"), "timeout", T), (httpx.ConnectTimeout("t"), "timeout", T),
    (httpx.ConnectError("c"), "connection_error", T), (httpx.RemoteProtocolError("r"), "connection_error", T),
    (httpx.UnsupportedProtocol("u"), "request_error", P),
    (_h1.ConnectError("c"), "connection_error", T), (_h1.ConnectionLost("l"), "connection_error", T),
    (_h1.ProtocolError("p"), "connection_error", T), (_h1.ResponseTooLarge("b"), "connection_error", T),
    (_h1.InvalidRequest("i"), "request_error", P), (TimeoutError(), "timeout", T)])
def test_transport_errors(exc: Exception, reason: str, klass: ErrorClass) -> None:
    result = classify_exception(exc)
    assert (result.reason, result.error_class) == (reason, klass)
    assert result.detail == type(exc).__name__  # never the message: it may carry the URL
