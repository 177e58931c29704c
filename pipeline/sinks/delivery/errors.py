"""What one send attempt came back with, and which of three things to do about it.

- transient: try again after a backoff (HTTP 5xx/408/429, timeouts, connection errors, WeCom -1, 45009,
  45033, DingTalk/Feishu throttling). Rate-limit answers are flagged so the backoff has a floor.
- token_refresh: the access token is bad or expired (WeCom 40014, 42001, 41001): refetch it, send again.
- permanent: sending again cannot help (40008 bad msgtype, 81013 no valid recipient, 93000 robot gone,
  bad signature, other 4xx). The notification is dead-lettered and the operator alerted. An errcode this
  table does not know is permanent too: dead-lettered, visible, not silently retried forever.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
import httpx


class ErrorClass(StrEnum):
    OK = "ok"
    TRANSIENT = "transient"
    TOKEN_REFRESH = "token_refresh"
    PERMANENT = "permanent"


@dataclass(slots=True, frozen=True)
class AttemptResult:
    """One attempt's result. `reason` is short and label-safe ("errcode_45009", "http_503", "timeout");
    `detail` is the destination's message, scrubbed of secrets before it reaches an outcome."""

    error_class: ErrorClass
    reason: str
    errcode: int | None = None
    http_status: int | None = None
    detail: str = ""
    rate_limited: bool = False
    retry_after: float | None = None
    invalid_recipients: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return self.error_class is ErrorClass.OK


@dataclass(slots=True, frozen=True)
class _Rule:
    error_class: ErrorClass
    meaning: str
    rate_limited: bool = False


_T, _R, _P = ErrorClass.TRANSIENT, ErrorClass.TOKEN_REFRESH, ErrorClass.PERMANENT

WECOM_ERRCODES: dict[int, _Rule] = {
    -1: _Rule(_T, "system busy"),
    45009: _Rule(_T, "api frequency out of limit", rate_limited=True),
    45033: _Rule(_T, "concurrent call limit exceeded", rate_limited=True),
    40014: _Rule(_R, "invalid access_token"),
    42001: _Rule(_R, "access_token expired"),
    41001: _Rule(_R, "access_token missing"),
    40001: _Rule(_P, "invalid secret"),
    40013: _Rule(_P, "invalid corpid"),
    40008: _Rule(_P, "invalid message type"),
    40056: _Rule(_P, "invalid agentid"),
    40058: _Rule(_P, "invalid parameter or content over the length limit"),
    44004: _Rule(_P, "empty content"),
    47001: _Rule(_P, "malformed request body"),
    60020: _Rule(_P, "caller IP not on the app's trusted list"),
    81013: _Rule(_P, "all recipients invalid"),
    93000: _Rule(_P, "robot webhook invalid or robot removed"),
}

DINGTALK_ERRCODES: dict[int, _Rule] = {
    -1: _Rule(_T, "system busy"),
    130101: _Rule(_T, "sending too fast (20/min per robot)", rate_limited=True),
    410100: _Rule(_T, "sending too fast", rate_limited=True),
    300001: _Rule(_P, "robot access_token does not exist"),
    310000: _Rule(_P, "sign not match, keyword missing or IP not allowed"),
    400013: _Rule(_P, "robot disabled"),
    460101: _Rule(_P, "message too long"),
}

FEISHU_CODES: dict[int, _Rule] = {
    11232: _Rule(_T, "frequency limited", rate_limited=True),
    9499: _Rule(_P, "bad request"),
    19001: _Rule(_P, "invalid webhook token or parameter"),
    19002: _Rule(_P, "invalid msg_type or content"),
    19021: _Rule(_P, "sign match fail or timestamp outside one hour"),
    19022: _Rule(_P, "IP not allowed"),
    19024: _Rule(_P, "keyword missing"),
    19036: _Rule(_P, "request body too large"),
}

_TRANSIENT_HTTP = {408, 425, 429}


def classify_http_status(status: int, retry_after: float | None = None) -> AttemptResult | None:
    """None for 2xx (read the body); otherwise the class of the HTTP status itself."""
    if 200 <= status < 300:
        return None
    reason = f"http_{status}"
    if status >= 500 or status in _TRANSIENT_HTTP:
        return AttemptResult(_T, reason, http_status=status, detail=f"HTTP {status}",
                             rate_limited=status == 429, retry_after=retry_after)
    return AttemptResult(_P, reason, http_status=status, detail=f"HTTP {status}")


def _classify_code(table: dict[int, _Rule], code: int, message: str, http_status: int) -> AttemptResult:
    if code == 0:
        return AttemptResult(ErrorClass.OK, "ok", errcode=0, http_status=http_status)
    rule = table.get(code)
    if rule is None:
        return AttemptResult(_P, f"errcode_{code}", errcode=code, http_status=http_status,
                             detail=f"unknown errcode {code}: {message}")
    return AttemptResult(rule.error_class, f"errcode_{code}", errcode=code, http_status=http_status,
                         detail=f"{rule.meaning}: {message}" if message else rule.meaning,
                         rate_limited=rule.rate_limited)


def classify_wecom(errcode: int, errmsg: str = "", http_status: int = 200) -> AttemptResult:
    return _classify_code(WECOM_ERRCODES, errcode, errmsg, http_status)


def classify_dingtalk(errcode: int, errmsg: str = "", http_status: int = 200) -> AttemptResult:
    return _classify_code(DINGTALK_ERRCODES, errcode, errmsg, http_status)


def classify_feishu(code: int, msg: str = "", http_status: int = 200) -> AttemptResult:
    return _classify_code(FEISHU_CODES, code, msg, http_status)


def classify_exception(exc: BaseException) -> AttemptResult:
    """Transport failures of either HTTP client (aiohttp, httpx). Only the exception's class name is kept:
    their messages can carry the URL."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        return AttemptResult(_T, "timeout", detail=name)
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol):
        return AttemptResult(_T, "connection_error", detail=name)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return AttemptResult(_T, "connection_error", detail=name)
    return AttemptResult(_P, "request_error", detail=name)


def malformed_response(http_status: int, what: str) -> AttemptResult:
    """A 2xx whose body is not what the destination documents: the send may or may not have happened, so
    it is retried like a 5xx (at-least-once)."""
    return AttemptResult(_T, "bad_response", http_status=http_status, detail=what)


def _code_reply(classify: Callable[[int, str, int], AttemptResult], code_field: str, msg_field: str,
                status: int, body: object) -> AttemptResult:
    if not isinstance(body, dict) or not isinstance(body.get(code_field), int):
        return malformed_response(status, f"answer without an integer {code_field}")
    message = body.get(msg_field)
    return classify(body[code_field], message if isinstance(message, str) else "", status)


def wecom_reply(status: int, body: object) -> AttemptResult:
    """Classify a 2xx WeCom answer {"errcode": .., "errmsg": ..}."""
    return _code_reply(classify_wecom, "errcode", "errmsg", status, body)


def dingtalk_reply(status: int, body: object) -> AttemptResult:
    return _code_reply(classify_dingtalk, "errcode", "errmsg", status, body)


def feishu_reply(status: int, body: object) -> AttemptResult:
    """Feishu answers {"code": .., "msg": ..}; older hooks answered {"StatusCode": 0, "StatusMessage": ..}."""
    if isinstance(body, dict) and "code" not in body and isinstance(body.get("StatusCode"), int):
        return _code_reply(classify_feishu, "StatusCode", "StatusMessage", status, body)
    return _code_reply(classify_feishu, "code", "msg", status, body)
