"""One-click SSO from an alert: a signed, short-lived link to our own redirector, which calls Exmail's
service/get_login_url at click time (Exmail's login URLs live 300 s, too short to put in an alert).

Token = base64url(JSON payload) + "." + base64url(HMAC-SHA256(secret, payload)); the payload binds the link to
one corp and mailbox, an expiry and a nonce. Chat apps fetch links for previews, so a GET only shows a
confirmation page; the person's click on it POSTs, and only that consumes the nonce, in a shared durable
claim log (pipeline/kafka/claims.py), so a used link stays used across restarts and on every replica.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol
from urllib.parse import quote

import orjson
from aiohttp import web

from pipeline.auth import OperatorLog, Role, operator_event, principal_of, public, requires
from pipeline.kafka.claims import ClaimUnavailable
from pipeline.metrics import SSO_LINKS
from pipeline.secrets import b64url, unb64url

log = logging.getLogger(__name__)


class SsoLinkError(ValueError):
    """Why a link was refused: `reason` is one of malformed, bad_signature, expired, replayed, unknown_corp."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class SsoClaim:
    corp_id: str
    userid: str
    expires_at: int
    nonce: str

    @property
    def claim_key(self) -> str:
        return f"sso/{self.nonce}"


class SsoLinkSigner:
    """Signs and verifies links (stateless: which nonces were used is the NonceStore's job)."""

    def __init__(self, secret: str, base_url: str, ttl_seconds: int = 900,
                 clock: Callable[[], float] = time.time) -> None:
        if len(secret) < 16:
            raise ValueError("the SSO signing secret must be at least 16 characters")
        self._key = secret.encode()
        self.base_url = base_url.rstrip("/")
        self.ttl = ttl_seconds
        self._clock = clock

    def __repr__(self) -> str:
        return f"SsoLinkSigner(base_url={self.base_url!r}, ttl={self.ttl})"

    def _sign(self, payload: bytes) -> str:
        return b64url(hmac.new(self._key, payload, hashlib.sha256).digest())

    def token(self, corp_id: str, userid: str) -> str:
        payload = orjson.dumps({"c": corp_id, "u": userid, "e": int(self._clock()) + self.ttl,
                                "n": secrets.token_urlsafe(9)})
        return f"{b64url(payload)}.{self._sign(payload)}"

    def link(self, corp_id: str, userid: str) -> str:
        return f"{self.base_url}?t={quote(self.token(corp_id, userid))}"

    def verify(self, token: str, *, allow_expired: bool = False) -> SsoClaim:
        try:
            body, sig = token.split(".", 1)
            payload = unb64url(body)
        except (ValueError, TypeError) as exc:
            raise SsoLinkError("malformed", "this login link is malformed") from exc
        if not hmac.compare_digest(sig, self._sign(payload)):
            raise SsoLinkError("bad_signature", "this login link was altered or is not ours")
        try:
            obj = orjson.loads(payload)
            claim = SsoClaim(str(obj["c"]), str(obj["u"]), int(obj["e"]), str(obj["n"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
            raise SsoLinkError("malformed", "this login link is malformed") from exc
        if claim.expires_at < int(self._clock()) and not allow_expired:
            raise SsoLinkError("expired", "this login link has expired; open the alert again for a new one")
        return claim


class NonceStore(Protocol):
    """Where used nonces live: `claim` is True for exactly one caller per key (ClaimLog in production)."""

    def claimed(self, key: str) -> bool: ...

    async def claim(self, key: str, expires_at: float) -> bool: ...


class MemoryNonceStore:
    """One process's memory (unit tests only: it forgets on restart and is not shared)."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __repr__(self) -> str:
        return f"MemoryNonceStore({len(self._used)})"

    def claimed(self, key: str) -> bool:
        return key in self._used

    async def claim(self, key: str, expires_at: float) -> bool:
        if key in self._used:
            return False
        self._used.add(key)
        return True


LoginUrlFetcher = Callable[[str, str], Awaitable[str | None]]
MAX_FORM_BYTES = 8 * 1024  # the confirmation form carries one token

_STATUS = {"malformed": 400, "bad_signature": 403, "expired": 410, "replayed": 410, "unknown_corp": 404}
_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer", "X-Robots-Tag": "noindex, nofollow",
            "X-Frame-Options": "DENY",
            "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'"}
_GET_PUBLIC = ("a signed, expiring link bound to one mailbox; GET only shows a confirmation page and consumes "
               "nothing (chat previews fetch links)")
_POST_PUBLIC = "the signed one-time link in the form authorizes exactly one login (first claim wins, durable)"


def _page(status: int, title: str, body: str) -> web.Response:
    text = (f"<!doctype html><html><head><meta charset='utf-8'><meta name='robots' content='noindex'>"
            f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    return web.Response(status=status, text=text, content_type="text/html", headers=_HEADERS)


def _refused(exc: SsoLinkError) -> web.Response:
    SSO_LINKS.labels(exc.reason).inc()
    return _page(_STATUS.get(exc.reason, 400), "Login link refused", f"<p>{html.escape(str(exc))}</p>")


def add_sso_routes(app: web.Application, signer: SsoLinkSigner, fetch_login_url: LoginUrlFetcher,
                   nonces: NonceStore, path: str = "/sso", audit: OperatorLog | None = None) -> None:
    """GET {path}?t=T: a confirmation page; POST {path} (form t=T): consume the link, 303 to a fresh Exmail
    login URL; POST {path}/revoke {"token": T} (admin): mark a leaked link used."""

    @public(_GET_PUBLIC)
    async def confirm(request: web.Request) -> web.Response:
        token = request.query.get("t", "")
        try:
            claim = signer.verify(token)
        except SsoLinkError as exc:
            return _refused(exc)
        if nonces.claimed(claim.claim_key):
            return _refused(SsoLinkError("replayed", "this login link was already used"))
        SSO_LINKS.labels("preview").inc()
        form = (f"<p>Sign in to the mailbox <b>{html.escape(claim.userid)}</b>. The link works once.</p>"
                "<form method='post'>"  # to this very URL, whatever prefix a proxy put in front
                f"<input type='hidden' name='t' value='{html.escape(token, quote=True)}'>"
                "<button type='submit'>Open mailbox</button></form>")
        return _page(200, "Open mailbox", form)

    @public(_POST_PUBLIC)
    async def consume(request: web.Request) -> web.Response:
        if request.content_length is None or request.content_length > MAX_FORM_BYTES:
            SSO_LINKS.labels("too_large").inc()
            return _page(413, "Request too large", "<p>Open the link from the alert again.</p>")
        form = await request.post()
        token = form.get("t")
        try:
            claim = signer.verify(token if isinstance(token, str) else "")
        except SsoLinkError as exc:
            return _refused(exc)
        if nonces.claimed(claim.claim_key):
            return _refused(SsoLinkError("replayed", "this login link was already used"))
        try:
            url = await fetch_login_url(claim.corp_id, claim.userid)
        except Exception as exc:
            log.warning("sso: get_login_url failed: %s", type(exc).__name__)
            SSO_LINKS.labels("exmail_error").inc()
            return _page(502, "Exmail did not answer", "<p>Could not get a login URL from Exmail; try again.</p>")
        if not url:
            return _refused(SsoLinkError("unknown_corp", "this deployment does not serve that mailbox's company"))
        try:
            won = await nonces.claim(claim.claim_key, claim.expires_at)
        except ClaimUnavailable:
            SSO_LINKS.labels("unavailable").inc()
            return _page(503, "Try again", "<p>The link could not be checked right now; try again shortly.</p>")
        if not won:
            return _refused(SsoLinkError("replayed", "this login link was already used"))
        SSO_LINKS.labels("redirected").inc()
        raise web.HTTPSeeOther(url, headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})

    @requires(Role.ADMIN)
    async def revoke(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError:
            return web.json_response({"error": "body is not JSON"}, status=400)
        token = body.get("token") if isinstance(body, dict) else None
        try:
            claim = signer.verify(token if isinstance(token, str) else "", allow_expired=True)
        except SsoLinkError as exc:
            return web.json_response({"error": str(exc)}, status=_STATUS.get(exc.reason, 400))
        try:
            won = await nonces.claim(claim.claim_key, claim.expires_at)
        except ClaimUnavailable:
            return web.json_response({"error": "the claim log is unavailable; retry"}, status=503)
        who = principal_of(request)
        if won and audit is not None and who is not None:
            await audit.record(operator_event(who, "sso_link.revoked", "sso_link", claim.nonce, corp_id=claim.corp_id,
                                              detail={"mailbox": claim.userid}, remote=request.remote))
        return web.json_response({"revoked": won, "already_used": not won, "mailbox": claim.userid})

    app.router.add_get(path, confirm)
    app.router.add_post(path, consume)
    app.router.add_post(path.rstrip("/") + "/revoke", revoke)
