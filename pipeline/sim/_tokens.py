"""access_token issue and checks: per-app tokens, real-time expiry, forced expiry, and a per-app QPS limit."""

from __future__ import annotations

import hmac
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from pipeline.sim._errors import ApiError
from pipeline.sim.config import APPS, Choices


@dataclass
class _Token:
    app: str
    corp_id: str
    expires_at: float
    expired: bool = False


class TokenStore:
    """Tokens live `expires_in` real seconds (clients cache them in real time, whatever the sim speed)."""

    def __init__(self, corp_id: str, app_secrets: dict[str, str], expires_in: int, choices: Choices,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.corp_id = corp_id
        self._secrets = dict(app_secrets)
        self.expires_in = expires_in
        self._choices = choices
        self._monotonic = monotonic
        self._tokens: dict[str, _Token] = {}
        self._current: dict[str, str] = {}
        self.issued = 0

    def __repr__(self) -> str:
        return f"TokenStore(corp_id={self.corp_id!r}, tokens={len(self._tokens)})"

    def app_for_secret(self, corpid: object, corpsecret: object) -> str:
        """The app a secret belongs to: wrong corpid -> `wrong_corpid_errcode` (40013), unknown secret -> 40001,
        the secret of an app switched off in the console (`disabled_apps`) -> 40091."""
        if not isinstance(corpid, str) or corpid != self.corp_id:
            raise ApiError(self._choices.wrong_corpid_errcode)
        if not isinstance(corpsecret, str):
            raise ApiError(40001)
        for app, secret in self._secrets.items():
            if hmac.compare_digest(secret.encode(), corpsecret.encode("utf-8", "replace")):
                if app in self._choices.disabled_apps:
                    raise ApiError(40091)
                return app
        raise ApiError(40001)

    def issue(self, corpid: object, corpsecret: object) -> tuple[str, int]:
        app = self.app_for_secret(corpid, corpsecret)
        now = self._monotonic()
        current = self._current.get(app)
        info = self._tokens.get(current) if current else None
        if (self._choices.token_reissue == "same" and current and info is not None and not info.expired
                and info.expires_at > now):
            return current, max(1, int(info.expires_at - now))
        if self._choices.token_reissue == "new_revokes_old" and current:
            self._tokens.pop(current, None)
        if len(self._tokens) > 10_000:
            self._tokens = {t: i for t, i in self._tokens.items() if i.expires_at > now - 86400}
        token = secrets.token_urlsafe(64)
        self._tokens[token] = _Token(app, self.corp_id, now + self.expires_in)
        self._current[app] = token
        self.issued += 1
        return token, self.expires_in

    def check(self, token: str | None, app: str) -> None:
        if not token:
            raise ApiError(self._choices.missing_token_errcode)
        info = self._tokens.get(token)
        if info is None:
            raise ApiError(40014)
        if info.expired or info.expires_at <= self._monotonic():
            info.expired = True
            code = self._choices.expired_token_errcode
            raise ApiError(code, "access_token expired" if code == 42001 else None)
        if info.app != app:
            raise ApiError(602005)

    def expire(self, token: str) -> None:
        info = self._tokens.get(token)
        if info is not None:
            info.expired = True

    def expire_all(self, mode: str = "expire", app: str | None = None) -> int:
        """"expire": tokens answer the expired code; "revoke": tokens become unknown (40014)."""
        victims = [t for t, info in self._tokens.items() if app is None or info.app == app]
        for t in victims:
            if mode == "revoke":
                del self._tokens[t]
            else:
                self._tokens[t].expired = True
        return len(victims)

    def stats(self) -> dict[str, object]:
        now = self._monotonic()
        live = [i for i in self._tokens.values() if not i.expired and i.expires_at > now]
        return {"issued": self.issued, "live": {a: sum(1 for i in live if i.app == a) for a in APPS}}


class RateLimiter:
    """At most `qps` calls per app in any sliding second; the next one gets 45009."""

    def __init__(self, qps: float | None, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.qps = qps
        self._monotonic = monotonic
        self._calls: dict[str, deque[float]] = {}

    def check(self, app: str) -> None:
        if self.qps is None:
            return
        now = self._monotonic()
        window = self._calls.setdefault(app, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.qps:
            raise ApiError(45009)
        window.append(now)
