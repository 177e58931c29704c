"""One-click SSO from an alert: a signed, short-lived link to our own redirector, which calls Exmail's
service/get_login_url at click time (Exmail's login URLs live 300 s, too short to put in an alert).

Token = base64url(JSON payload) + "." + base64url(HMAC-SHA256(secret, payload)); the payload names corp, user,
expiry and a nonce. The redirector refuses tampered, expired and replayed tokens with a clear page.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import html
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import quote

import orjson
from aiohttp import web


class SsoLinkError(ValueError):
    """Why a link was refused: `reason` is one of malformed, bad_signature, expired, replayed, unknown_corp."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class SsoClaim:
    corp_id: str
    userid: str
    expires_at: int
    nonce: str


class SsoLinkSigner:
    """Signs and verifies links; remembers used nonces until their expiry so a link works once."""

    def __init__(self, secret: str, base_url: str, ttl_seconds: int = 900,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the SSO signing secret must be at least 16 characters")
        self._key = secret.encode()
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl_seconds
        self._clock = clock
        self._used: dict[str, int] = {}

    def __repr__(self) -> str:
        return f"SsoLinkSigner(base_url={self.base_url!r}, ttl={self.ttl})"

    def _sign(self, payload: bytes) -> str:
        return _b64(hmac.new(self._key, payload, hashlib.sha256).digest())

    def token(self, corp_id: str, userid: str) -> str:
        payload = orjson.dumps({"c": corp_id, "u": userid, "e": int(self._clock()) + self.ttl,
                                "n": secrets.token_urlsafe(9)})
        return f"{_b64(payload)}.{self._sign(payload)}"

    def link(self, corp_id: str, userid: str) -> str:
        return f"{self.base_url}?t={quote(self.token(corp_id, userid))}"

    def verify(self, token: str, *, consume: bool = True) -> SsoClaim:
        try:
            body, sig = token.split(".", 1)
            payload = _unb64(body)
        except (ValueError, TypeError) as exc:
            raise SsoLinkError("malformed", "this login link is malformed") from exc
        if not hmac.compare_digest(sig, self._sign(payload)):
            raise SsoLinkError("bad_signature", "this login link was altered or is not ours")
        try:
            obj = orjson.loads(payload)
            claim = SsoClaim(str(obj["c"]), str(obj["u"]), int(obj["e"]), str(obj["n"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SsoLinkError("malformed", "this login link is malformed") from exc
        now = int(self._clock())
        if claim.expires_at < now:
            raise SsoLinkError("expired", "this login link has expired; open the alert again for a new one")
        self._used = {n: e for n, e in self._used.items() if e >= now}
        if claim.nonce in self._used:
            raise SsoLinkError("replayed", "this login link was already used")
        if consume:
            self._used[claim.nonce] = claim.expires_at
        return claim


LoginUrlFetcher = Callable[[str, str], Awaitable[str | None]]

_STATUS = {"malformed": 400, "bad_signature": 403, "expired": 410, "replayed": 410, "unknown_corp": 404}


def _page(status: int, title: str, message: str) -> web.Response:
    body = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
            f"<body><h1>{html.escape(title)}</h1><p>{html.escape(message)}</p></body></html>")
    return web.Response(status=status, text=body, content_type="text/html")


def add_sso_routes(app: web.Application, signer: SsoLinkSigner, fetch_login_url: LoginUrlFetcher,
                   path: str = "/sso") -> None:
    """GET {path}?t=TOKEN -> 302 to a fresh Exmail login URL, or an error page saying why not."""

    async def redirect(request: web.Request) -> web.Response:
        token = request.query.get("t", "")
        try:
            claim = signer.verify(token)
        except SsoLinkError as exc:
            return _page(_STATUS.get(exc.reason, 400), "Login link refused", str(exc))
        try:
            url = await fetch_login_url(claim.corp_id, claim.userid)
        except Exception:
            return _page(502, "Exmail did not answer", "Could not get a login URL from Exmail; try again shortly.")
        if not url:
            return _page(404, "Unknown mailbox", "This deployment does not serve that mailbox's company.")
        raise web.HTTPFound(url)

    app.router.add_get(path, redirect)
