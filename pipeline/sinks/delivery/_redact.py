"""Keep destination credentials out of the HTTP client's own logs.

httpx logs every request URL at INFO ("HTTP Request: POST https://...?key=..."; aiohttp's client, used behind
a proxy, does not, but may name a URL in a warning; the sinks' own client, `_h1`, logs nothing), and robot
keys, access tokens and Feishu hook tokens live in URLs. Sinks register their live secrets here; a filter on the httpx
and httpcore loggers rewrites each record with those values (and secret-looking query parameters) masked.
"""

from __future__ import annotations

import logging
from collections import Counter

from pipeline.secrets import REDACTED, scrub_text

_LOGGERS = ("httpx", "httpcore", "httpcore.connection", "httpcore.http11", "httpcore.http2", "httpcore.proxy",
            "aiohttp.client", "aiohttp.internal")
_live: Counter[str] = Counter()


class _RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is the logging module's problem, not ours
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


_FILTER = _RedactingFilter()


class SecretValues(frozenset[str]):
    """A set of live credential values whose repr never shows them."""

    def __repr__(self) -> str:
        return f"SecretValues(<{len(self)} masked>)"


def redact(text: str) -> str:
    for secret in sorted(_live, key=len, reverse=True):
        if secret and secret in text:
            text = text.replace(secret, REDACTED)
    return scrub_text(text)


def register(*secrets: str) -> None:
    for name in _LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
    for s in secrets:
        if s:
            _live[s] += 1


def unregister(*secrets: str) -> None:
    for s in secrets:
        if s and _live[s] > 0:
            _live[s] -= 1
            if _live[s] == 0:
                del _live[s]
