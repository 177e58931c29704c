"""The operator console: server-rendered pages over the worker's live objects and the existing APIs.

Mounted by the worker at /console. Every page is a view: the Alerts page reads the dispatcher's groups and the
SSE hub (pipeline/sinks/sse) for live records; silences are created and expired through /alerting/api/silences,
actions approved, rejected and undone through /actions/api/actions (so the same code, the same checks and the
same operator events apply, with the logged-in principal); the Audit page runs the audit store's query and
verify; the Pipeline page reads the group's lag and replays dead letters with `pipeline replay`'s functions.

Browsers log in by pasting a token (pipeline/auth/_session.py); pages are `requires(role, login=...)`, so a
browser without a session is sent to the login page and a role it lacks gets a 403 page.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import jinja2
import orjson
from aiohttp import web

from pipeline.apiconsole import ConsoleError, call, catalog, endpoint, parse_params
from pipeline.auth import (
    SESSION_COOKIE,
    Authenticator,
    AuthFailure,
    OperatorLog,
    Principal,
    Role,
    operator_event,
    principal_of,
    public,
    requires,
)
from pipeline.console._audit import AuditSearch, SearchError, export, parse_search, search_page
from pipeline.console._i18n import LANG_COOKIE, LANGUAGES, pick_language, translator
from pipeline.console._pipeline import (
    Throughput,
    count_by_stage,
    dead_letters,
    ingest_streams,
    lag_by_stage,
    processed_by_stage,
    replay_stage,
    valid_stage,
)
from pipeline.console.config import ConsoleConfig
from pipeline.exmail import ExmailClient
from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.metrics import AUTH_FAILURES
from pipeline.sinks.audit.config import AuditStoreConfig
from pipeline.sinks.audit.store import AuditRow, AuditStore
from pipeline.sinks.registry import open_audit_store
from pipeline.sinks.sse import SseConfig
from pipeline.sinks.sse.server import SseHub
from pipeline.sources.config import CorpConfig, client_settings
from pipeline.worker.lag import LagMonitor

log = logging.getLogger(__name__)

PREFIX = "/console"
LOGIN = f"{PREFIX}/login"
LOGIN_CSRF_COOKIE = "exmail_login_csrf"
STATIC = Path(__file__).parent / "static"
_STATIC_FILES = {"console.js": "application/javascript", "console.css": "text/css"}
_LOGIN_PUBLIC = ("the login form: a pasted token is checked like a bearer header (constant time, failures count "
                 "toward the per-address limit); the form carries a double-submit CSRF token")
# the live topics of the Alerts page; `allow_anonymous` only tells create_sse_app not to declare a role, and this
# app declares the stream itself (viewer, session cookie)
_LIVE = SseConfig(topics=["exmail.alerts", "exmail.notifications", "exmail.deliveries"], allow_anonymous=True,
                  heartbeat_seconds=10.0)
CONSOLE_KEY = web.AppKey("console", object)


@dataclass
class ConsoleDeps:
    """What the worker hands the console. `views` is the worker's live registry (WorkerContext.views), read at
    request time because agents fill it once they start."""

    config: ConsoleConfig
    auth: Authenticator
    kafka: KafkaSettings
    names: TopicNames
    group: str
    audit: AuditStoreConfig | None
    views: dict[str, Any] = field(default_factory=dict)
    monitor: LagMonitor | None = None
    corps: list[CorpConfig] = field(default_factory=list)  # the API console calls Exmail as these
    agents: Callable[[], dict[str, list[str]]] = dict  # {topic: [agent, ...]} of this worker
    operator_log: OperatorLog | None = None
    process: str = "worker"


def _env() -> jinja2.Environment:
    env = jinja2.Environment(loader=jinja2.PackageLoader("pipeline.console", "templates"),
                             autoescape=True)  # a missing optional field renders empty
    env.filters["json"] = lambda v: orjson.dumps(v, option=orjson.OPT_INDENT_2).decode()
    env.filters["iso"] = lambda ts: (datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S")
                                     if isinstance(ts, int | float) else str(ts or ""))
    env.filters["dur"] = _duration
    return env


def _duration(seconds: float) -> str:
    s = int(seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return f"{s}s"


_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def _not_a_form(request: web.Request) -> web.Response | None:
    """The console's POST handlers take HTML forms only: anything else is refused before a body is read."""
    if request.content_type in _FORM_TYPES:
        return None
    return web.json_response({"error": "send an HTML form (application/x-www-form-urlencoded)"}, status=415)


def _safe_next(value: str | None) -> str:
    """Only a console path (no open redirect)."""
    if value and value.startswith(f"{PREFIX}/") and not value.startswith("//") and "\\" not in value:
        return value
    return f"{PREFIX}/alerts"


class Console:
    def __init__(self, deps: ConsoleDeps) -> None:
        self.deps = deps
        self.env = _env()
        self.hub = SseHub(_LIVE, deps.kafka, deps.names)
        self._store: AuditStore | None = None
        self._store_lock = asyncio.Lock()
        self.http = httpx.AsyncClient(timeout=5.0)
        self.throughput = Throughput()

    def __repr__(self) -> str:
        return f"Console(group={self.deps.group!r})"

    # ------------------------------------------------------------------ rendering

    def render(self, request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
        lang = pick_language(request)
        principal = principal_of(request)
        cookie = request.cookies.get(SESSION_COOKIE, "")
        csrf = self.deps.auth.sessions.csrf(cookie) if cookie and principal is not None else ""
        body = self.env.get_template(template).render(
            t=translator(lang), lang=lang, languages=LANGUAGES, principal=principal, csrf=csrf, prefix=PREFIX,
            path=request.path_qs, can=lambda role: principal is not None and principal.has(Role(role)),
            **context)
        return web.Response(text=body, status=status, content_type="text/html", charset="utf-8",
                            headers={"Cache-Control": "no-store", "X-Frame-Options": "DENY",
                                     "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'"})

    async def _record(self, request: web.Request, principal: Principal, action: str, target_type: str,
                      target_id: str, detail: dict[str, Any]) -> None:
        if self.deps.operator_log is None:
            return
        try:
            await self.deps.operator_log.record(operator_event(principal, action, target_type, target_id,
                                                               detail=detail, remote=request.remote))
        except Exception:
            log.exception("console: %s done but its operator event was not written", action)

    async def store(self) -> AuditStore:
        async with self._store_lock:
            if self._store is None:
                if self.deps.audit is None:
                    raise web.HTTPServiceUnavailable(text="no audit store configured (worker.audit)")
                self._store = await open_audit_store(self.deps.audit)
            return self._store

    async def close(self, _app: web.Application) -> None:
        await self.hub.on_shutdown(_app)
        await self.http.aclose()
        if self._store is not None:
            await self._store.close()

    # ------------------------------------------------------------------ login

    async def login_page(self, request: web.Request, error: str | None = None, status: int = 200) -> web.Response:
        nonce = secrets.token_urlsafe(24)
        resp = self.render(request, "login.html.j2", status=status, error=error, login_csrf=nonce,
                           next=_safe_next(request.query.get("next")))
        resp.set_cookie(LOGIN_CSRF_COOKIE, nonce, path=LOGIN, httponly=True, samesite="Strict", max_age=1800,
                        secure=request.secure)
        return resp

    async def login(self, request: web.Request) -> web.Response:
        auth, remote = self.deps.auth, request.remote or "?"
        if (refused := _not_a_form(request)) is not None:
            return refused
        form = await request.post()
        given = str(form.get("csrf", ""))
        expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
        if not expected or not secrets.compare_digest(given, expected):
            AUTH_FAILURES.labels(self.deps.process, "csrf").inc()
            return await self.login_page(request, "login.expired", 403)
        if auth.blocked(remote):
            AUTH_FAILURES.labels(self.deps.process, "rate_limited").inc()
            return await self.login_page(request, "login.blocked", 429)
        try:
            principal, cookie = auth.login(str(form.get("token", "")))
        except AuthFailure as exc:
            auth.failed(remote)
            AUTH_FAILURES.labels(self.deps.process, exc.reason).inc()
            log.warning("console login refused from %s: %s", remote, exc.reason)
            return await self.login_page(request, "login.invalid", 401)
        await self._record(request, principal, "console.login", "session", principal.name, {})
        resp = web.HTTPSeeOther(_safe_next(str(form.get("next", ""))))
        resp.set_cookie(SESSION_COOKIE, cookie, path="/", httponly=True, samesite="Strict", secure=request.secure,
                        max_age=int(self.deps.config.session_hours * 3600))
        resp.del_cookie(LOGIN_CSRF_COOKIE, path=LOGIN)
        raise resp

    async def logout(self, request: web.Request) -> web.Response:
        resp = web.HTTPSeeOther(LOGIN)
        resp.del_cookie(SESSION_COOKIE, path="/")
        raise resp

    async def language(self, request: web.Request) -> web.Response:
        lang = request.query.get("to", "")
        resp = web.HTTPSeeOther(_safe_next(request.query.get("next")))
        if lang in LANGUAGES:
            resp.set_cookie(LANG_COOKIE, lang, path=PREFIX, samesite="Strict", max_age=365 * 86400)
        raise resp

    async def static(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name not in _STATIC_FILES:
            raise web.HTTPNotFound()
        return web.Response(body=(STATIC / name).read_bytes(), content_type=_STATIC_FILES[name],
                            headers={"Cache-Control": "max-age=300"})

    # ------------------------------------------------------------------ alerts

    def _groups(self) -> list[dict[str, Any]] | None:
        dispatcher = self.deps.views.get("dispatcher")
        return None if dispatcher is None else dispatcher.view(time.time())

    async def alerts(self, request: web.Request) -> web.Response:
        since = datetime.fromtimestamp(time.time() - self.deps.config.recent_alerts_minutes * 60, UTC)
        return self.render(request, "alerts.html.j2", groups=self._groups(),
                           since=since.strftime("%Y-%m-%dT%H:%M:%SZ"))

    async def alerts_fragment(self, request: web.Request) -> web.Response:
        return self.render(request, "alerts_groups.html.j2", groups=self._groups())

    async def stream(self, request: web.Request) -> web.StreamResponse:
        return await self.hub.handle_stream(request)

    # ------------------------------------------------------------------ silences

    async def silences(self, request: web.Request) -> web.Response:
        store = self.deps.views.get("silences")
        now = time.time()
        listed = [s.to_dict(now) for s in store.list(now)] if store is not None else None
        return self.render(request, "silences.html.j2", silences=listed)

    async def silence_preview(self, request: web.Request) -> web.Response:
        """The alerts a silence with these matchers would mute now (the store's own parsing and matching)."""
        store, groups = self.deps.views.get("silences"), self._groups() or []
        if store is None:
            return web.json_response({"error": "the alerting agents do not run in this worker"}, status=503)
        principal = principal_of(request)
        try:
            body = orjson.loads(await request.read()) if request.can_read_body else {}
            spec = {"matchers": body.get("matchers"), "duration": body.get("duration") or "1h",
                    "comment": "preview", "created_by": principal.name if principal else "preview"}
            silence, _ = store.shadow().set(spec)  # a shadow: nothing is stored or published
        except (ValueError, AttributeError, orjson.JSONDecodeError) as exc:
            return web.json_response({"error": str(exc)}, status=400)
        seen: dict[str, dict[str, Any]] = {}
        for g in groups:
            for a in g["alerts"]:
                if a["status"] == "firing" and silence.mutes(a["labels"]):
                    seen.setdefault(a["fingerprint"], {k: a[k] for k in ("fingerprint", "labels", "starts_at")})
        return web.json_response({"count": len(seen), "alerts": list(seen.values())})

    # ------------------------------------------------------------------ actions

    async def actions(self, request: web.Request) -> web.Response:
        service = self.deps.views.get("actions")
        if service is None:
            return self.render(request, "actions.html.j2", pending=None, history=None)
        pending = await service.list_actions("pending", 100)
        history = await service.list_actions("recent", 50)
        return self.render(request, "actions.html.j2",
                           pending=[{**e.summary(), "plan": [c.model_dump(mode="json") for c in e.calls],
                                     "params": e.request.params} for e in pending],
                           history=[e.summary() for e in history])

    # ------------------------------------------------------------------ audit

    async def audit(self, request: web.Request) -> web.Response:
        error: str | None = None
        rows: list[AuditRow] = []
        more, search = False, None
        if any(request.query.get(k) for k in ("since", "until", "user", "kind", "action", "ip", "q", "page",
                                              "run")):
            try:
                search = parse_search(request.query, self.deps.config.page_size)
                rows, more = await search_page(await self.store(), search)
            except SearchError as exc:
                error = str(exc)
        return self.render(request, "audit.html.j2", rows=rows, more=more, error=error, form=dict(request.query),
                           page=search.page if search else 0, query_string=_without_page(request),
                           verify=None)

    async def audit_export(self, request: web.Request) -> web.StreamResponse:
        fmt = request.query.get("format", "csv")
        if fmt not in ("csv", "jsonl"):
            return web.json_response({"error": "format must be csv or jsonl"}, status=400)
        try:
            search: AuditSearch = parse_search(request.query, self.deps.config.page_size)
        except SearchError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        resp = web.StreamResponse(headers={
            "Content-Type": "text/csv; charset=utf-8" if fmt == "csv" else "application/x-ndjson",
            "Content-Disposition": f'attachment; filename="exmail-audit.{"csv" if fmt == "csv" else "jsonl"}"'})
        await resp.prepare(request)
        async for chunk in export(await self.store(), search, fmt):
            await resp.write(chunk)
        await resp.write_eof()
        return resp

    async def audit_verify(self, request: web.Request) -> web.Response:
        report = await (await self.store()).verify()
        verify = {"ok": report.ok, "chains": report.chains, "rows": report.rows,
                  "first_break": str(report.first_break) if report.first_break else None,
                  "breaks": len(report.breaks)}
        return self.render(request, "audit.html.j2", rows=[], more=False, error=None, form={}, page=0,
                           query_string="", verify=verify)

    # ------------------------------------------------------------------ pipeline

    async def pipeline(self, request: web.Request, result: dict[str, Any] | None = None,
                       status: int = 200) -> web.Response:
        d = self.deps
        dlq_error = None
        processed = processed_by_stage()
        lags = lag_by_stage(d.group, d.agents())
        health = d.monitor.health() if d.monitor is not None else {"ok": True, "stalled": []}
        try:
            dlq = count_by_stage(await asyncio.to_thread(dead_letters, d.kafka))
        except Exception as exc:
            dlq, dlq_error = {}, f"{type(exc).__name__}: {exc}"
        ingest: dict[str, Any] | None = None
        if d.config.ingest_url:
            base = d.config.ingest_url.rstrip("/")
            try:
                answered, scraped = await asyncio.gather(self.http.get(f"{base}/healthz"),
                                                         self.http.get(f"{base}/metrics"))
                streams = ingest_streams(answered.json(), scraped.text, {c.corp_id: c.name for c in d.corps})
                ingest = {"ok": answered.status_code == 200, "streams": streams}
            except (httpx.HTTPError, ValueError) as exc:
                ingest = {"ok": False, "error": type(exc).__name__}
        return self.render(request, "pipeline.html.j2", status=status, lags=lags, health=health, dlq=dlq,
                           dlq_error=dlq_error, processed=processed, rates=self.throughput.update(time.monotonic(),
                                                                                                  processed),
                           ingest=ingest, result=result)

    async def replay(self, request: web.Request) -> web.Response:
        if (refused := _not_a_form(request)) is not None:
            return refused
        form = await request.post()
        principal = principal_of(request)
        assert principal is not None  # the guard let an operator through
        try:
            stage = valid_stage(form.get("stage"))
        except ValueError as exc:
            return await self.pipeline(request, {"error": str(exc)}, 400)
        dry_run = form.get("mode") != "replay"
        kafka = self.deps.kafka
        if not dry_run:
            # dry run first: the replay must name the count the dry run showed, so nothing unseen is re-injected
            letters = await asyncio.to_thread(dead_letters, kafka, stage)
            if str(form.get("confirmed", "")) != str(len(letters)):
                return await self.pipeline(request, {"stage": stage, "error": "run the dry run first (the dead "
                                                     f"letters of {stage} changed: now {len(letters)})"}, 409)
        res = await asyncio.to_thread(replay_stage, kafka, stage, dry_run=dry_run)
        outcome = {"stage": stage, "dry_run": dry_run, "matched": res.matched, "replayed": res.replayed,
                   "skipped": res.skipped, "masked": res.masked, "by_topic": res.by_topic or {}}
        if not dry_run:
            await self._record(request, principal, "dlq.replayed", "dlq", stage, outcome)
        return await self.pipeline(request, outcome)


    # ------------------------------------------------------------------ API console (admin)

    async def api_console(self, request: web.Request, result: dict[str, Any] | None = None,
                          form: dict[str, str] | None = None, status: int = 200) -> web.Response:
        return self.render(request, "api.html.j2", status=status, endpoints=[e.to_dict() for e in catalog()],
                           corps=[c.name for c in self.deps.corps], result=result, form=form or {})

    async def api_call(self, request: web.Request) -> web.Response:
        """`pipeline api call` from a form: the same catalog, parameter parsing, call and masking."""
        if (refused := _not_a_form(request)) is not None:
            return refused
        posted = await request.post()
        form = {k: str(posted.get(k, "")) for k in ("endpoint", "params", "corp")}
        principal = principal_of(request)
        assert principal is not None  # the guard let an admin through
        corp = next((c for c in self.deps.corps if c.name == form["corp"]), None)
        if corp is None:
            return await self.api_console(request, {"error": f"unknown corp {form['corp']!r}"}, form, 400)
        try:
            ep = endpoint(form["endpoint"])
            typed = parse_params(ep, [line.strip() for line in form["params"].splitlines() if line.strip()])
        except ConsoleError as exc:
            return await self.api_console(request, {"error": str(exc)}, form, 400)
        async with ExmailClient(client_settings(corp, 30)) as client:
            result = await call(client, ep.path, typed)
        await self._record(request, principal, "api.called", "exmail_api", ep.path,
                           {"corp": corp.name, "ok": result.ok, "errcode": result.errcode})
        return await self.api_console(request, result.to_dict(), form)


def _without_page(request: web.Request) -> str:
    return urlencode([(k, v) for k, v in request.query.items() if k != "page" and v])


def create_console_app(deps: ConsoleDeps) -> web.Application:
    console = Console(deps)
    app = web.Application(client_max_size=64 * 1024)
    app[CONSOLE_KEY] = console
    page = lambda role: requires(role, login=LOGIN)  # noqa: E731 - a browser page of that role

    @page(Role.VIEWER)
    async def home(_: web.Request) -> web.Response:
        raise web.HTTPSeeOther(f"{PREFIX}/alerts")

    @public(_LOGIN_PUBLIC)
    async def login_form(request: web.Request) -> web.Response:
        return await console.login_page(request)

    @public(_LOGIN_PUBLIC)
    async def login(request: web.Request) -> web.Response:
        return await console.login(request)

    @public("sets only the language preference cookie and redirects to a console path")
    async def language(request: web.Request) -> web.Response:
        return await console.language(request)

    @public("the console's script and stylesheet: static files, no data")
    async def static(request: web.Request) -> web.Response:
        return await console.static(request)

    routes: list[tuple[str, str, Any]] = [
        ("GET", "/", home),
        ("GET", "/login", login_form),
        ("POST", "/login", login),
        ("GET", "/lang", language),
        ("GET", "/static/{name}", static),
        ("POST", "/logout", page(Role.VIEWER)(console.logout)),
        ("GET", "/alerts", page(Role.VIEWER)(console.alerts)),
        ("GET", "/alerts/groups", page(Role.VIEWER)(console.alerts_fragment)),
        ("GET", "/stream", requires(Role.VIEWER)(console.stream)),
        ("GET", "/silences", page(Role.VIEWER)(console.silences)),
        ("POST", "/silences/preview", requires(Role.VIEWER)(console.silence_preview)),
        ("GET", "/actions", page(Role.VIEWER)(console.actions)),
        ("GET", "/audit", page(Role.VIEWER)(console.audit)),
        ("GET", "/audit/export", page(Role.VIEWER)(console.audit_export)),
        ("GET", "/audit/verify", page(Role.VIEWER)(console.audit_verify)),
        ("GET", "/pipeline", page(Role.VIEWER)(console.pipeline)),
        ("POST", "/pipeline/replay", page(Role.OPERATOR)(console.replay)),
        ("GET", "/api", page(Role.ADMIN)(console.api_console)),
        ("POST", "/api", page(Role.ADMIN)(console.api_call)),
    ]
    for method, path, handler in routes:
        app.router.add_route(method, path, handler)
    app.on_shutdown.append(console.close)
    return app
