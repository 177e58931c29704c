"""The middleware that enforces route declarations, and `secure_app` which every HTTP server goes through.

Order per request: a route nobody declared answers 500 (and the server refuses to start with one); a client
address over its failed-attempt budget answers 429; a bad credential 401; no credential on a role route 401;
a principal without the role 403. Refusals are counted in exmail_auth_failures_total{process,reason} and logged
with the address and path (query secrets masked), never the credential.
"""

from __future__ import annotations

import html
import logging
from typing import Any
from urllib.parse import urlencode

import orjson
from aiohttp import web

from pipeline.auth._access import Access, Handler, Role, access_of, public, requires, route_table, undeclared
from pipeline.auth._authn import Authenticator, AuthFailure, Principal, is_loopback
from pipeline.auth._session import CSRF_FIELD, CSRF_HEADER, SESSION_COOKIE
from pipeline.metrics import AUTH_FAILURES
from pipeline.secrets import scrub_text

log = logging.getLogger("pipeline.auth")

PRINCIPAL_KEY = web.RequestKey("exmail_principal", Principal)
STATE_CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class InsecureStartError(SystemExit):
    """The process would serve a state-changing API nobody authenticates; the message says what to set."""


def _json(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json", headers=headers)


def principal_of(request: web.Request) -> Principal | None:
    """The authenticated caller of this request (None on a public route called without credentials)."""
    return request.get(PRINCIPAL_KEY)


def require(request: web.Request, role: Role) -> Principal:
    """For public routes with an alternative credential (approval links): insist on `role` when it is absent."""
    principal = principal_of(request)
    if principal is None:
        raise web.HTTPUnauthorized(text=orjson.dumps({"error": f"authentication required ({role.value})"}).decode(),
                                   content_type="application/json", headers={"WWW-Authenticate": "Bearer"})
    if not principal.has(role):
        raise web.HTTPForbidden(text=orjson.dumps({"error": f"role {role.value} required"}).decode(),
                                content_type="application/json")
    return principal


def _middleware(auth: Authenticator, process: str) -> Any:
    def refuse(request: web.Request, status: int, reason: str, message: str) -> web.Response:
        AUTH_FAILURES.labels(process, reason).inc()
        remote = request.remote or "?"
        log.warning("auth refused %s %s from %s: %s", request.method, scrub_text(request.path_qs), remote, reason)
        if reason in ("missing", "invalid", "unknown_certificate"):
            auth.failed(remote)
        headers = {"WWW-Authenticate": 'Bearer realm="exmail"'} if status == 401 else None
        if status == 429:
            headers = {"Retry-After": str(auth.retry_after(remote))}
        return _json(status, {"error": message}, headers)

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        match = request.match_info
        if match.http_exception is not None:
            return await handler(request)  # 404 / 405: nothing is served
        access: Access | None = access_of(match.route.handler)
        if access is None:
            log.error("route %s %s has no access declaration; refusing", request.method, match.route.resource)
            return refuse(request, 500, "undeclared", "this route has no access declaration")
        remote = request.remote or "?"
        presented = "Authorization" in request.headers or (access.query_token and "access_token" in request.query)
        if (presented or not access.public) and auth.blocked(remote):
            return refuse(request, 429, "rate_limited", "too many failed authentications; retry later")
        try:
            principal = auth.authenticate(request, query_token=access.query_token)
        except AuthFailure as exc:
            return refuse(request, 401, exc.reason, "invalid credentials")
        if principal is not None:
            request[PRINCIPAL_KEY] = principal
        if access.role is not None:
            if principal is None:
                if access.login is not None and request.method == "GET":
                    AUTH_FAILURES.labels(process, "login_required").inc()
                    raise web.HTTPSeeOther(f"{access.login}?{urlencode({'next': request.path_qs})}")
                return refuse(request, 401, "missing", f"authentication required ({access.role.value})")
            if not principal.has(access.role):
                if access.login is not None:
                    AUTH_FAILURES.labels(process, "forbidden").inc()
                    log.warning("auth refused %s %s from %s: forbidden", request.method,
                                scrub_text(request.path_qs), remote)
                    return _forbidden_page(access.role, principal)
                return refuse(request, 403, "forbidden", f"role {access.role.value} required")
        if (access.role is not None and principal is not None and request.method in STATE_CHANGING
                and auth.via_session(request)):  # public routes (the login form) carry their own protection
            given = request.headers.get(CSRF_HEADER, "")
            if not given and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
                given = str((await request.post()).get(CSRF_FIELD, ""))
            if not auth.sessions.csrf_ok(request.cookies[SESSION_COOKIE], given):
                return refuse(request, 403, "csrf", "missing or wrong CSRF token for this session")
        return await handler(request)

    return guard


def _forbidden_page(role: Role, principal: Principal) -> web.Response:
    """A browser page the principal's roles do not allow: HTML, so the person sees why."""
    text = (f"<!doctype html><html><head><meta charset='utf-8'><title>403</title></head><body>"
            f"<h1 id='forbidden'>403 — role {html.escape(role.value)} required</h1><p>{html.escape(principal.name)} "
            f"holds {html.escape(', '.join(sorted(r.value for r in principal.roles)))}.</p></body></html>")
    return web.Response(status=403, text=text, content_type="text/html", charset="utf-8")


def secure_app(app: web.Application, auth: Authenticator, *, process: str, host: str) -> web.Application:
    """Install the guard, add GET /auth/whoami (viewer) and GET /auth/routes (admin), and check the app may
    start: every route declared; no state-changing role route without credentials unless the loudly named
    insecure flag is set and `host` is a loopback address."""

    @requires(Role.VIEWER)
    async def whoami(request: web.Request) -> web.Response:
        principal = principal_of(request)
        return _json(200, principal.to_dict() if principal else {})

    @requires(Role.ADMIN)
    async def routes(request: web.Request) -> web.Response:
        return _json(200, {"process": process, "routes": [r.to_dict() for r in route_table(request.app)]})

    app.router.add_get("/auth/whoami", whoami)
    app.router.add_get("/auth/routes", routes)
    check_startup(app, auth, process=process, host=host)
    app.middlewares.append(_middleware(auth, process))
    return app


def check_startup(app: web.Application, auth: Authenticator, *, process: str, host: str) -> None:
    missing = undeclared(app)
    if missing:
        names = ", ".join(f"{r.method} {r.path}" for r in missing)
        raise InsecureStartError(f"{process}: routes without an access declaration (use pipeline.auth.requires or "
                                 f"pipeline.auth.public): {names}")
    flag = auth.config.insecure_anonymous_admin_on_loopback
    if flag and not is_loopback(host):
        raise InsecureStartError(f"{process}: auth.insecure_anonymous_admin_on_loopback is set but the server "
                                 f"binds {host!r}; it is accepted on a loopback address only")
    changing = [r for r in route_table(app)
                if r.access is not None and r.access.role is not None and r.method in STATE_CHANGING]
    if changing and not auth.configured:
        if not flag:
            names = ", ".join(f"{r.method} {r.path}" for r in changing)
            raise InsecureStartError(
                f"{process}: refusing to serve state-changing routes ({names}) without authentication: add "
                "auth.tokens (see docs/operations.md, Security), or for a local experiment only set "
                "auth.insecure_anonymous_admin_on_loopback: true with a loopback http host")
        log.warning("INSECURE: %s serves state-changing routes on %s with NO authentication; every local caller "
                    "is an admin (auth.insecure_anonymous_admin_on_loopback)", process, host)


__all__ = ["PRINCIPAL_KEY", "InsecureStartError", "principal_of", "public", "require", "requires", "secure_app"]
