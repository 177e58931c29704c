"""App sends with a per-app access-token cache.

The cache fetches once for all concurrent callers (single flight), refreshes `token_refresh_margin` before
`expires_in` runs out, and on 40014/42001/41001 drops exactly the token that failed, so a burst of sends
that all saw one revoked token causes one refetch, not one each.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable, Callable

from pipeline.clock import Clock
from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass, malformed_response
from pipeline.sinks.delivery.http import HttpClient, exchange
from pipeline.sinks.wecom_app.encoder import AppMessage
from pipeline.sinks.wecom_app.errors import wecom_reply
from pipeline.sinks.wecom_app.request_builder import AppRequestBuilder


class TokenFetchError(Exception):
    """gettoken failed; carries the classified (secret-free) result."""

    def __init__(self, result: AttemptResult) -> None:
        super().__init__(f"gettoken failed: {result.reason}")
        self.result = result


class AccessTokenCache:
    def __init__(self, fetch: Callable[[], Awaitable[tuple[str, float]]], clock: Clock,
                 refresh_margin: float = 300.0) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = refresh_margin
        self._token: str | None = None
        self._expires_at = 0.0
        self._inflight: asyncio.Future[str] | None = None
        self._recent: deque[str] = deque(maxlen=8)
        self.fetches = 0

    def __repr__(self) -> str:
        return f"AccessTokenCache(cached={self._token is not None}, fetches={self.fetches})"

    @property
    def current(self) -> str | None:
        return self._token

    @property
    def recent(self) -> frozenset[str]:
        """Tokens fetched lately (an error message may echo one after it was dropped)."""
        return frozenset(self._recent)

    async def get(self) -> str:
        if self._token is not None and self._clock.monotonic() < self._expires_at:
            return self._token
        if self._inflight is None:
            task = asyncio.ensure_future(self._refetch())
            task.add_done_callback(self._settled)
            self._inflight = task
        return await asyncio.shield(self._inflight)

    def _settled(self, task: asyncio.Future[str]) -> None:
        self._inflight = None
        if not task.cancelled():
            task.exception()  # marks it retrieved; waiters get it through the shield

    async def _refetch(self) -> str:
        self.fetches += 1
        token, expires_in = await self._fetch()
        self._recent.append(token)
        self._token = token
        self._expires_at = self._clock.monotonic() + max(0.0, expires_in - self._margin)
        return token

    def invalidate(self, token: str | None = None) -> None:
        """Forget the cached token (only if it is `token`, when given)."""
        if token is None or token == self._token:
            self._token = None
            self._expires_at = 0.0


class AppService:
    def __init__(self, client: HttpClient, builder: AppRequestBuilder, clock: Clock,
                 refresh_margin: float = 300.0) -> None:
        self._client = client
        self._builder = builder
        self.tokens = AccessTokenCache(self._gettoken, clock, refresh_margin)

    async def _gettoken(self) -> tuple[str, float]:
        reply = await exchange(self._client, self._builder.gettoken())
        if isinstance(reply, AttemptResult):
            raise TokenFetchError(reply)
        body = reply.body
        result = wecom_reply(reply.status, body)
        if not result.ok:
            if result.error_class is ErrorClass.TOKEN_REFRESH:
                result = AttemptResult(ErrorClass.PERMANENT, result.reason, result.errcode, result.http_status,
                                       f"gettoken: {result.detail}")
            raise TokenFetchError(result)
        token = body.get("access_token") if isinstance(body, dict) else None
        expires_in = body.get("expires_in", 7200) if isinstance(body, dict) else None
        if not isinstance(token, str) or not token or not isinstance(expires_in, int | float):
            raise TokenFetchError(malformed_response(reply.status, "gettoken answer without access_token"))
        return token, float(expires_in)

    async def send(self, message: AppMessage) -> AttemptResult:
        try:
            token = await self.tokens.get()
        except TokenFetchError as exc:
            return exc.result
        reply = await exchange(self._client, self._builder.send(message, token))
        if isinstance(reply, AttemptResult):
            return reply
        result = wecom_reply(reply.status, reply.body)
        if result.error_class is ErrorClass.TOKEN_REFRESH:
            self.tokens.invalidate(token)
        invalid = _invalid(reply.body)
        if invalid:
            result = AttemptResult(result.error_class, result.reason, result.errcode, result.http_status,
                                   result.detail, result.rate_limited, result.retry_after, invalid)
        return result


def _invalid(body: object) -> tuple[str, ...]:
    """WeCom's invaliduser/invalidparty/invalidtag ("a|b"), as "alice", "party:3", "tag:7"."""
    if not isinstance(body, dict):
        return ()
    out: list[str] = []
    for field, prefix in (("invaliduser", ""), ("invalidparty", "party:"), ("invalidtag", "tag:")):
        value = body.get(field)
        if isinstance(value, str) and value:
            out.extend(prefix + v for v in value.split("|") if v)
    return tuple(out)

