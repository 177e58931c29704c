"""Browser sessions: a browser cannot send a bearer header when it navigates, so the console's login page
trades a pasted token for a signed cookie that resolves to the same Principal as that token.

    cookie = base64url(token_digest "." expires "." nonce) "." hex(HMAC-SHA256(key, that))

The cookie holds no token and no roles: `token_digest` names the credential, so removing or rotating the token
in `auth.tokens` ends every session made with it. The key is derived from the configured token values (every
worker of a deployment accepts the same cookies, a restart keeps them valid, and changing any token ends all
sessions); with no tokens configured it is random per process. State-changing requests made with a session
must carry the session's CSRF token (form field `csrf` or header `X-CSRF-Token`); the cookie is also
HttpOnly and SameSite=Strict.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

SESSION_COOKIE = "exmail_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
DEFAULT_SESSION_SECONDS = 12 * 3600.0


@dataclass(frozen=True, slots=True)
class Session:
    token_digest: str
    expires: int
    nonce: str


class SessionCodec:
    def __init__(self, token_values: Iterable[bytes], *, ttl_seconds: float = DEFAULT_SESSION_SECONDS,
                 clock: Callable[[], float] = time.time) -> None:
        values = sorted(token_values)
        seed = b"\0".join(values) if values else secrets.token_bytes(32)
        self._key = hashlib.sha256(b"exmail-console-session\0" + seed).digest()
        self.ttl_seconds = ttl_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"SessionCodec(ttl={self.ttl_seconds:g}s)"

    def digest(self, token: bytes) -> str:
        """Names a token inside cookies without revealing it (keyed, so it cannot be tested offline)."""
        return hmac.new(self._key, b"token\0" + token, hashlib.sha256).hexdigest()[:32]

    def issue(self, token: bytes) -> str:
        body = f"{self.digest(token)}.{int(self._clock() + self.ttl_seconds)}.{secrets.token_urlsafe(12)}"
        packed = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
        return f"{packed}.{self._sign(packed)}"

    def open(self, cookie: str) -> Session | None:
        """The session of a well-signed, unexpired cookie; None for anything else."""
        packed, _, sig = cookie.rpartition(".")
        if not packed or not hmac.compare_digest(sig, self._sign(packed)):
            return None
        try:
            body = base64.urlsafe_b64decode(packed + "=" * (-len(packed) % 4)).decode()
            digest, expires, nonce = body.split(".")
            session = Session(digest, int(expires), nonce)
        except ValueError:
            return None
        return session if session.expires > self._clock() else None

    def csrf(self, cookie: str) -> str:
        """The CSRF token of a session (bound to the cookie, so it changes with every login)."""
        return hmac.new(self._key, b"csrf\0" + cookie.encode(), hashlib.sha256).hexdigest()

    def csrf_ok(self, cookie: str, given: str) -> bool:
        return bool(given) and hmac.compare_digest(given, self.csrf(cookie))

    def _sign(self, packed: str) -> str:
        return hmac.new(self._key, packed.encode(), hashlib.sha256).hexdigest()
