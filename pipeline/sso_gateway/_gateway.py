"""The gateway's HTTP side: start a login, finish it (OIDC callback or LDAP form), decide, record, redirect.

Routes are listed in ROUTES with who may call them. All are public by nature: they are where an anonymous
browser becomes an authenticated employee, and what protects each one is said in its `reason`.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
from aiohttp import web

from pipeline.auth import public
from pipeline.exmail import ExmailError, NotFound
from pipeline.metrics import SSO_GATEWAY_LOGINS
from pipeline.secrets import resolve_secret, scrub_text
from pipeline.sso_gateway._audit import LoginAttempt, RecordSink, login_record
from pipeline.sso_gateway._errors import LoginRefused
from pipeline.sso_gateway._ldap import LdapAuthenticator
from pipeline.sso_gateway._oidc import OidcClient
from pipeline.sso_gateway._pages import SECURITY_HEADERS, login_form, refusal_page
from pipeline.sso_gateway._policy import AccessPolicy, Grant, Identity, requested_box
from pipeline.sso_gateway._tokens import Session, StateError, TokenKit, Transaction
from pipeline.sso_gateway.config import SsoGatewaySettings

log = logging.getLogger("pipeline.sso_gateway")

TX_COOKIE = "exmail_sso_tx"
SESSION_COOKIE = "exmail_sso_session"
MAX_DETAIL_CHARS = 300

LoginUrlFetcher = Callable[[str], Awaitable[str]]


@dataclass(frozen=True, slots=True)
class GatewayRoute:
    """One route: method, path below the gateway prefix, handler attribute, and who may call it and why."""

    method: str
    path: str
    handler: str
    access: Literal["public"]
    reason: str


ROUTES: tuple[GatewayRoute, ...] = (
    GatewayRoute("GET", "/mail", "mail", "public",
                 "employees' entry point: it only starts a login (or reuses this browser's sealed session)"),
    GatewayRoute("GET", "/oidc/callback", "oidc_callback", "public",
                 "the identity provider's redirect: signed single-use state bound to the browser's cookie, PKCE, "
                 "and an ID token verified against the provider's JWKS"),
    GatewayRoute("GET", "/ldap/login", "ldap_form", "public", "shows the LDAP login form; grants nothing"),
    GatewayRoute("POST", "/ldap/login", "ldap_submit", "public",
                 "authenticated by an LDAP bind as the user; signed single-use state bound to the browser's cookie "
                 "(SameSite=Lax: a cross-site POST carries no cookie)"),
)


def _redirect(location: str) -> web.Response:
    return web.Response(status=302, headers={**SECURITY_HEADERS, "Location": location})


class SsoGateway:
    """One gateway for one corp. `login_url(mailbox)` asks Exmail's service/get_login_url; `record` must return
    only once the audit record is durably accepted."""

    def __init__(self, settings: SsoGatewaySettings, *, corp_id: str, login_url: LoginUrlFetcher,
                 record: RecordSink, clock: Callable[[], float] = time.time,
                 http: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.corp_id = corp_id
        self._login_url = login_url
        self._record = record
        self._clock = clock
        self._kit = TokenKit(resolve_secret(settings.secret), state_ttl=settings.state_ttl_seconds,
                             session_ttl=settings.session_ttl_seconds, clock=clock)
        self._policy = AccessPolicy(settings)
        self._http = http or httpx.AsyncClient(follow_redirects=False)
        self._owns_http = http is None
        self._oidc = (OidcClient(settings.oidc, resolve_secret(settings.oidc.client_secret), settings.redirect_uri,
                                 self._http, clock=clock) if settings.oidc else None)
        self._ldap = (LdapAuthenticator(settings.ldap, resolve_secret(settings.ldap.bind_password))
                      if settings.ldap else None)

    def __repr__(self) -> str:
        return f"SsoGateway(corp_id={self.corp_id!r}, path={self.settings.path!r}, methods={self.settings.methods})"

    def routes(self) -> list[web.RouteDef]:
        """The route table as aiohttp RouteDefs under the configured prefix."""
        return [web.route(r.method, f"{self.settings.path}{r.path}", public(r.reason)(getattr(self, r.handler)))
                for r in ROUTES]  # declared for the auth guard (pipeline/auth): every gateway route is public

    def mount(self, app: web.Application) -> None:
        app.add_routes(self.routes())
        app.on_cleanup.append(self._cleanup)

    async def _cleanup(self, _app: web.Application) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    # ------------------------------------------------------------ helpers

    def _attempt(self, request: web.Request, method: str) -> LoginAttempt:
        return LoginAttempt(ref=secrets.token_hex(12), method=method, at=self._clock(), client_ip=request.remote)

    def _cookie(self, response: web.StreamResponse, name: str, value: str, max_age: int) -> None:
        response.set_cookie(name, value, max_age=max_age, path=self.settings.path, httponly=True, samesite="Lax",
                            secure=self.settings.cookie_secure)

    def _drop_cookie(self, response: web.StreamResponse, name: str) -> None:
        response.del_cookie(name, path=self.settings.path, httponly=True, samesite="Lax",
                            secure=self.settings.cookie_secure)

    async def _emit(self, attempt: LoginAttempt, *, allowed: bool, reason: str | None, detail: str | None,
                    errcode: int | None = None) -> None:
        key, envelope = login_record(self.corp_id, attempt, allowed=allowed, reason=reason,
                                     detail=scrub_text(detail)[:MAX_DETAIL_CHARS] if detail else None,
                                     errcode=errcode)
        await self._record(key, envelope)

    async def _refuse(self, attempt: LoginAttempt, exc: LoginRefused, *, errcode: int | None = None,
                      drop_tx: bool = False) -> web.Response:
        """Record the refusal (best effort: the employee gets the page either way) and show why."""
        log.info("sso_gateway: refused %s login of %s for %s: %s", attempt.method, attempt.login or "anonymous",
                 attempt.mailbox or attempt.requested_box or "own mailbox", exc.reason)
        SSO_GATEWAY_LOGINS.labels(attempt.method, "refused", exc.reason).inc()
        try:
            await self._emit(attempt, allowed=False, reason=exc.reason, detail=exc.detail, errcode=errcode)
        except Exception:
            log.exception("sso_gateway: the refusal record %s could not be written", attempt.ref)
        page = refusal_page(exc.reason, attempt.ref)
        if drop_tx:
            self._drop_cookie(page, TX_COOKIE)
        return page

    async def _complete(self, attempt: LoginAttempt, identity: Identity, *, drop_tx: bool,
                        new_session: bool) -> web.Response:
        """Decide, fetch the one-time Exmail login URL, record, then redirect (or refuse)."""
        attempt.login, attempt.subject, attempt.groups = identity.login, identity.subject, identity.groups
        try:
            grant: Grant = self._policy.decide(identity, attempt.requested_box)
        except LoginRefused as exc:
            return await self._refuse(attempt, exc, drop_tx=drop_tx)
        attempt.mailbox, attempt.shared, attempt.via_groups = grant.mailbox, grant.shared, grant.via_groups
        try:
            url = await self._login_url(grant.mailbox)
        except Exception as exc:
            # ExmailError messages are scrubbed and name the errcode; anything else only by its type
            errcode = exc.errcode if isinstance(exc, ExmailError) else None
            error = str(exc) if isinstance(exc, ExmailError) else f"{type(exc).__name__} from the Exmail client"
            if not isinstance(exc, ExmailError):
                log.exception("sso_gateway: service/get_login_url failed unexpectedly")
            attempt.call(userid=grant.mailbox, outcome="error", at=self._clock(), errcode=errcode, error=error)
            reason = "no_such_mailbox" if isinstance(exc, NotFound) else "exmail_error"
            return await self._refuse(attempt, LoginRefused(reason, error), errcode=errcode, drop_tx=drop_tx)
        attempt.call(userid=grant.mailbox, outcome="ok", at=self._clock())
        try:
            await self._emit(attempt, allowed=True, reason=None, detail=None)
        except Exception:
            log.exception("sso_gateway: login %s not recorded; not letting it through", attempt.ref)
            SSO_GATEWAY_LOGINS.labels(attempt.method, "refused", "audit_unavailable").inc()
            return refusal_page("audit_unavailable", attempt.ref)
        SSO_GATEWAY_LOGINS.labels(attempt.method, "allowed", "").inc()
        log.info("sso_gateway: %s login of %s opens %s", attempt.method, identity.login, grant.mailbox)
        response = _redirect(url)
        if drop_tx:
            self._drop_cookie(response, TX_COOKIE)
        if new_session and self.settings.session_ttl_seconds > 0:
            session = Session(identity.method, identity.subject, identity.login, identity.mailbox,
                              identity.groups, self._kit.session_expiry())
            self._cookie(response, SESSION_COOKIE, self._kit.seal_session(session), self.settings.session_ttl_seconds)
        return response

    def _finish(self, request: web.Request, state: str, method: str) -> Transaction:
        return self._kit.finish(state, request.cookies.get(TX_COOKIE), method)

    # ------------------------------------------------------------ routes

    async def mail(self, request: web.Request) -> web.StreamResponse:
        """GET /mail[?box=ADDRESS][&via=oidc|ldap]: redirect into Exmail, or start a login first."""
        via = request.query.get("via") or None
        # the method labels a metric and a record: only a configured one, never the raw parameter
        attempt = self._attempt(request, via if via in self.settings.methods else self.settings.method)
        try:
            box = requested_box(request.query.get("box"))
            attempt.requested_box = box
            if via is not None and via not in self.settings.methods:
                raise LoginRefused("method_unavailable", f"via={via[:20]!r}")
        except LoginRefused as exc:
            return await self._refuse(attempt, exc)
        session = self._kit.open_session(request.cookies.get(SESSION_COOKIE))
        if session is not None and via in (None, session.method):
            attempt.method, attempt.via_session = session.method, True
            identity = Identity(session.method, session.subject, session.login, session.mailbox, session.groups)
            return await self._complete(attempt, identity, drop_tx=False, new_session=False)
        method = attempt.method
        if method == "ldap":
            query = urlencode({"box": box} if box else {})
            return _redirect(f"{self.settings.path}/ldap/login" + (f"?{query}" if query else ""))
        assert self._oidc is not None
        tx, state, sealed = self._kit.begin("oidc", box)
        try:
            target = await self._oidc.authorization_url(tx, state)
        except LoginRefused as exc:
            return await self._refuse(attempt, exc)
        response = _redirect(target)
        self._cookie(response, TX_COOKIE, sealed, self.settings.state_ttl_seconds)
        return response

    async def oidc_callback(self, request: web.Request) -> web.StreamResponse:
        """GET /oidc/callback?code=...&state=...: the provider sends the browser back here."""
        attempt = self._attempt(request, "oidc")
        if self._oidc is None:
            return await self._refuse(attempt, LoginRefused("method_unavailable", "oidc is not configured"))
        try:
            tx = self._finish(request, request.query.get("state", ""), "oidc")
        except StateError as exc:
            return await self._refuse(attempt, LoginRefused(exc.reason, str(exc)))
        attempt.requested_box = tx.box
        try:
            if "error" in request.query:
                raise LoginRefused("idp_error", request.query.get("error", "")[:100])
            code = request.query.get("code", "")
            if not code:
                raise LoginRefused("code_rejected", "the callback carries no code")
            claims = await self._oidc.exchange(code, tx)
        except LoginRefused as exc:
            return await self._refuse(attempt, exc, drop_tx=True)
        return await self._complete(attempt, self._oidc_identity(claims), drop_tx=True, new_session=True)

    def _oidc_identity(self, claims: dict[str, Any]) -> Identity:
        s = self.settings.oidc
        assert s is not None
        mailbox = claims.get(s.mailbox_claim)
        if not isinstance(mailbox, str) or (s.mailbox_claim == "email" and claims.get("email_verified") is False):
            mailbox = None
        raw_groups = claims.get(s.groups_claim)
        groups = [raw_groups] if isinstance(raw_groups, str) else raw_groups if isinstance(raw_groups, list) else []
        sub = str(claims["sub"])
        return Identity("oidc", sub, mailbox or sub, mailbox, tuple(str(g) for g in groups))

    async def ldap_form(self, request: web.Request) -> web.StreamResponse:
        """GET /ldap/login[?box=ADDRESS]: a fresh transaction and the login form carrying its state."""
        attempt = self._attempt(request, "ldap")
        try:
            if self._ldap is None:
                raise LoginRefused("method_unavailable", "ldap is not configured")
            box = requested_box(request.query.get("box"))
        except LoginRefused as exc:
            return await self._refuse(attempt, exc)
        return self._form(box)

    def _form(self, box: str | None, *, failed: bool = False) -> web.Response:
        _, state, sealed = self._kit.begin("ldap", box)
        page = login_form(f"{self.settings.path}/ldap/login", state, box, failed=failed)
        self._cookie(page, TX_COOKIE, sealed, self.settings.state_ttl_seconds)
        return page

    async def ldap_submit(self, request: web.Request) -> web.StreamResponse:
        """POST /ldap/login (state, username, password): bind as the user, then decide."""
        attempt = self._attempt(request, "ldap")
        if self._ldap is None:
            return await self._refuse(attempt, LoginRefused("method_unavailable", "ldap is not configured"))
        form = await request.post()
        state, username, password = (str(form.get(k) or "") for k in ("state", "username", "password"))
        try:
            tx = self._finish(request, state, "ldap")
        except StateError as exc:
            return await self._refuse(attempt, LoginRefused(exc.reason, str(exc)))
        attempt.requested_box, attempt.login = tx.box, username.strip()[:256] or None
        try:
            found = await self._ldap.authenticate(username, password)
        except LoginRefused as exc:
            if exc.reason != "bad_credentials":
                return await self._refuse(attempt, exc, drop_tx=True)
            await self._refuse(attempt, exc)  # recorded; the employee gets the form again with a fresh state
            return self._form(tx.box, failed=True)
        identity = Identity("ldap", found.dn, found.username, found.mailbox, found.groups)
        return await self._complete(attempt, identity, drop_tx=True, new_session=True)
