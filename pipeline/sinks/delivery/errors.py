"""What one send attempt came back with, and which of three things to do about it.

- transient: try again after a backoff (HTTP 5xx/408/429, timeouts, connection errors, a destination's "busy"
  or throttling codes). Rate-limit answers are flagged so the backoff has a floor.
- token_refresh: the access token is bad or expired (e.g. WeCom 40014, 42001, 41001): refetch it, send again.
- permanent: sending again cannot help (bad message type, no valid recipient, robot gone, bad signature,
  other 4xx). The notification is dead-lettered and the operator alerted. An errcode a destination's table
  does not know is permanent too: dead-lettered, visible, not silently retried forever.

Each destination owns its errcode table (pipeline/sinks/<kind>/errors.py, built from `CodeRule`s and read
with `code_reply`); this module holds what every destination shares: HTTP statuses and transport failures.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

import aiohttp
import httpx

from pipeline.sinks.delivery import _h1


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
class CodeRule:
    """One row of a destination's errcode table."""

    error_class: ErrorClass
    meaning: str
    rate_limited: bool = False


_T, _P = ErrorClass.TRANSIENT, ErrorClass.PERMANENT

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


def classify_code(table: Mapping[int, CodeRule], code: int, message: str = "",
                  http_status: int = 200) -> AttemptResult:
    """A destination's answer code read against its table; 0 is success, an unknown code is permanent."""
    if code == 0:
        return AttemptResult(ErrorClass.OK, "ok", errcode=0, http_status=http_status)
    rule = table.get(code)
    if rule is None:
        return AttemptResult(_P, f"errcode_{code}", errcode=code, http_status=http_status,
                             detail=f"unknown errcode {code}: {message}")
    return AttemptResult(rule.error_class, f"errcode_{code}", errcode=code, http_status=http_status,
                         detail=f"{rule.meaning}: {message}" if message else rule.meaning,
                         rate_limited=rule.rate_limited)


def classify_exception(exc: BaseException) -> AttemptResult:
    """Transport failures of the HTTP clients (the sinks' own `_h1`, aiohttp behind a proxy, httpx). Only the
    exception's class name is kept: aiohttp's and httpx's messages can carry the URL."""
    name = type(exc).__name__
    if isinstance(exc, httpx.TimeoutException | TimeoutError):  # aiohttp's timeouts are TimeoutErrors
        return AttemptResult(_T, "timeout", detail=name)
    if isinstance(exc, _h1.TransportError):  # connect failures, lost connections, bad or oversized answers
        if isinstance(exc, _h1.InvalidRequest):
            return AttemptResult(_P, "request_error", detail=name)
        return AttemptResult(_T, "connection_error", detail=name)
    if isinstance(exc, httpx.TransportError) and not isinstance(exc, httpx.UnsupportedProtocol):
        return AttemptResult(_T, "connection_error", detail=name)
    if isinstance(exc, aiohttp.ClientConnectionError | aiohttp.ClientPayloadError | aiohttp.ClientResponseError):
        return AttemptResult(_T, "connection_error", detail=name)
    return AttemptResult(_P, "request_error", detail=name)


def malformed_response(http_status: int, what: str) -> AttemptResult:
    """A 2xx whose body is not what the destination documents: the send may or may not have happened, so
    it is retried like a 5xx (at-least-once)."""
    return AttemptResult(_T, "bad_response", http_status=http_status, detail=what)


class CodeTable(dict[int, CodeRule]):
    """A destination's errcode table, and where its answers put the code and the message."""

    def __init__(self, rules: Mapping[int, CodeRule], *, code_field: str = "errcode",
                 msg_field: str = "errmsg") -> None:
        super().__init__(rules)
        self.code_field = code_field
        self.msg_field = msg_field

    def classify(self, code: int, message: str = "", http_status: int = 200) -> AttemptResult:
        return classify_code(self, code, message, http_status)

    def reply(self, status: int, body: object) -> AttemptResult:
        """Classify a 2xx answer {code_field: int, msg_field: str}; any other shape is a malformed answer."""
        return code_reply(self, self.code_field, self.msg_field, status, body)


def code_reply(table: Mapping[int, CodeRule], code_field: str, msg_field: str, status: int,
               body: object) -> AttemptResult:
    """Classify a 2xx answer {code_field: int, msg_field: str} against a destination's table."""
    if not isinstance(body, dict) or not isinstance(body.get(code_field), int):
        return malformed_response(status, f"answer without an integer {code_field}")
    message = body.get(msg_field)
    return classify_code(table, body[code_field], message if isinstance(message, str) else "", status)
