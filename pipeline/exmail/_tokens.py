"""access_token cache: one token per app of one corp, reused until shortly before it expires.

Single flight: however many calls find the cache cold at once, one gettoken is in flight per app and they
all share its outcome (token or error). A call whose token was refused invalidates exactly that token, so a
burst of refusals still causes one refresh.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from pipeline.exmail.models import AccessToken, App

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class _Cached:
    value: str
    expires_at: float

    def __repr__(self) -> str:
        return f"_Cached(value='***', expires_at={self.expires_at})"


class TokenCache:
    def __init__(self, fetch: Callable[[App], Awaitable[AccessToken]], *, clock: Clock, margin: float) -> None:
        self._fetch = fetch
        self._clock = clock
        self._margin = margin
        self._tokens: dict[App, _Cached] = {}
        self._inflight: dict[App, asyncio.Future[str]] = {}

    def __repr__(self) -> str:
        return f"TokenCache(apps={sorted(a.value for a in self._tokens)})"

    def _valid(self, app: App) -> str | None:
        cached = self._tokens.get(app)
        if cached is not None and self._clock() < cached.expires_at:
            return cached.value
        return None

    async def get(self, app: App) -> str:
        """A valid token for `app`, fetching one (single flight) when none is cached."""
        token = self._valid(app)
        if token is not None:
            return token
        future = self._inflight.get(app)
        if future is None:
            future = asyncio.ensure_future(self._refresh(app))
            self._inflight[app] = future
            future.add_done_callback(functools.partial(self._settle, app))
        return await asyncio.shield(future)

    def _settle(self, app: App, done: asyncio.Future[str]) -> None:
        if self._inflight.get(app) is done:
            del self._inflight[app]
        if not done.cancelled():
            done.exception()  # marks it retrieved when every waiter was cancelled

    async def _refresh(self, app: App) -> str:
        issued = await self._fetch(app)
        lifetime = float(issued.expires_in)
        margin = self._margin if self._margin < lifetime else lifetime / 2
        value = issued.access_token.get_secret_value()
        self._tokens[app] = _Cached(value, self._clock() + lifetime - margin)
        return value

    def invalidate(self, app: App, token: str) -> None:
        """Forget `token` if it is still the cached one (a newer token fetched meanwhile stays)."""
        cached = self._tokens.get(app)
        if cached is not None and cached.value == token:
            del self._tokens[app]

    def clear(self) -> None:
        self._tokens.clear()
