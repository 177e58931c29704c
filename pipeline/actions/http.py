"""The actions HTTP API as an aiohttp application (mount it with `app.add_subapp("/actions", ...)`).

  GET  /api/actions[?state=pending|approvals|recent&limit=N]  -> {"actions": [summary, ...]}        (viewer)
  GET  /api/actions/{id}                                      -> summary + calls                 (viewer)
  GET  /api/actions/{id}/approve?token=T   -> an HTML page showing the action with an "Approve" button
                                              (public: a GET never approves, chat apps prefetch links)
  POST /api/actions/{id}/approve   {"token": T} or form token=T (approval link), or no token (approver)
  POST /api/actions/{id}/reject    {"token": T, "reason": text} or {"reason": text} (approver)
  POST /api/actions/{id}/undo      {"reason": text}                                              (operator)

Roles come from the auth guard (pipeline/auth). Who approved, rejected or undid is the authenticated
principal, or "approval-link" for a signed link; a name in the body is never used. Each decision is also an
operator event on exmail.actions. Errors are JSON {"error": "..."}: 400 bad request, 401 no credentials,
403 wrong role or bad/expired approval token, 404 unknown action, 409 the action's state does not allow it.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from pipeline.actions.approval import ApprovalError
from pipeline.actions.errors import ActionInputError, ActionNotFound, ActionStateError
from pipeline.actions.model import LedgerEntry
from pipeline.actions.service import ActionService
from pipeline.auth import OperatorLog, Principal, Role, operator_event, principal_of, public, require, requires

MAX_BODY_BYTES = 64 * 1024
SERVICE_KEY = web.AppKey("actions_service", ActionService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
APPROVAL_LINK = "approval-link"
log = logging.getLogger(__name__)
_LINK_PUBLIC = ("the signed approval token (one action, expiring) authorizes it; without a token the handler "
                "requires an approver principal")


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _detail(entry: LedgerEntry) -> dict[str, Any]:
    out = entry.summary()
    out["calls"] = [c.model_dump(mode="json") for c in entry.calls]
    out["params"] = entry.request.params
    out["trigger"] = entry.request.trigger.model_dump(mode="json")
    return out


def _page(title: str, body: str, status: int = 200) -> web.Response:
    text = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8")


def create_actions_app(service: ActionService, audit: OperatorLog | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service

    async def record(request: web.Request, who: Principal | None, action: str, entry: LedgerEntry,
                     detail: dict[str, Any]) -> None:
        if audit is None:
            return
        actor = who or Principal(APPROVAL_LINK, frozenset(), "approval-link")
        event = operator_event(actor, action, "action", entry.id, corp_id=entry.request.corp_id,
                               detail={"kind": entry.kind.value, "account": entry.request.target,
                                       "state": entry.state.value, **detail}, remote=request.remote)
        try:
            await audit.record(event)
        except Exception:
            log.exception("action %s: %s done but its audit event was not written", entry.id, action)

    async def body(request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/x-www-form-urlencoded":
            form = await request.post()
            return {k: str(v) for k, v in form.items()}
        raw = await request.read()
        if not raw.strip():
            return {}
        try:
            parsed = orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise ActionInputError(f"body is not JSON: {exc}") from None
        if not isinstance(parsed, dict):
            raise ActionInputError("body must be a JSON object")
        return parsed

    def guarded(handler: Callable[[web.Request], Awaitable[web.Response]]) -> Handler:
        async def wrapper(request: web.Request) -> web.Response:
            try:
                return await handler(request)
            except ActionNotFound as exc:
                return _error(404, str(exc))
            except ApprovalError as exc:
                return _error(403, str(exc))
            except ActionStateError as exc:
                return _error(409, str(exc))
            except (ActionInputError, ValueError) as exc:
                return _error(400, str(exc))

        return wrapper

    @requires(Role.VIEWER)
    @guarded
    async def list_actions(request: web.Request) -> web.Response:
        state = request.query.get("state", "pending")
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit must be an integer")
        entries = await service.list_actions(state, max(1, min(limit, 1000)))
        return _json({"actions": [e.summary() for e in entries]})

    @requires(Role.VIEWER)
    @guarded
    async def get_action(request: web.Request) -> web.Response:
        return _json(_detail(await service.get(request.match_info["id"])))

    @public("shows the action for a signed approval link; a GET changes nothing (chat previews fetch it)")
    @guarded
    async def approve_page(request: web.Request) -> web.Response:
        action_id = request.match_info["id"]
        token = request.query.get("token", "")
        try:
            if not token:
                raise ApprovalError("the link has no approval token")
            entry = await service.get(action_id)
            service.verify_token(action_id, token)
        except (ApprovalError, ActionNotFound) as exc:
            return _page("Approval link not valid", f"<p>{html.escape(str(exc))}</p>", 403)
        r = entry.request
        rows = "".join(
            f"<tr><th>{html.escape(k)}</th><td>{html.escape(str(v))}</td></tr>"
            for k, v in (
                ("action", r.kind.value),
                ("account", r.target),
                ("corp", r.corp_id),
                ("requested by", r.requested_by),
                ("reason", r.reason),
                ("state", entry.state.value),
                ("plan", entry.detail or ""),
            )
        )
        calls = "".join(
            f"<li>{html.escape(c.method)} {html.escape(c.endpoint)} "
            f"{html.escape(orjson.dumps(c.params).decode())}</li>"
            for c in entry.calls
            if c.kind != "read"
        )
        form = (
            f"<form method='post'><input type='hidden' name='token' value='{html.escape(token, quote=True)}'>"
            "<button type='submit'>Approve</button></form>"
        )
        return _page(
            f"Approve {r.kind.value} for {r.target}?", f"<table>{rows}</table><ul>{calls}</ul>{form}"
        )

    async def decide(request: web.Request, approve: bool) -> web.Response:
        action_id = request.match_info["id"]
        data = await body(request)
        token = data.get("token") or None
        if token is not None and not isinstance(token, str):
            return _error(400, "token must be a string")
        who = principal_of(request) if token is not None else require(request, Role.APPROVER)
        by = who.name if who is not None else APPROVAL_LINK
        reason = str(data.get("reason") or "")
        if approve:
            entry = await service.approve(action_id, by=by, token=token)
        else:
            if token is not None:
                service.verify_token(action_id, token)
            entry = await service.reject(action_id, by=by, reason=reason)
        await record(request, who, "action.approved" if approve else "action.rejected", entry,
                     {"via": "approval-link" if token else "api", **({"reason": reason} if reason else {})})
        if request.content_type == "application/x-www-form-urlencoded":
            verb = "approved" if approve else "rejected"
            return _page(
                f"Action {verb}",
                f"<p>{html.escape(entry.kind.value)} for "
                f"{html.escape(entry.request.target)}: {html.escape(entry.state.value)} "
                f"{html.escape(entry.detail or entry.error or '')}</p>",
            )
        return _json(_detail(entry))

    @public(_LINK_PUBLIC)
    @guarded
    async def approve(request: web.Request) -> web.Response:
        return await decide(request, True)

    @public(_LINK_PUBLIC)
    @guarded
    async def reject(request: web.Request) -> web.Response:
        return await decide(request, False)

    @requires(Role.OPERATOR)
    @guarded
    async def undo(request: web.Request) -> web.Response:
        who = require(request, Role.OPERATOR)
        data = await body(request)
        reason = str(data.get("reason") or "")
        entry = await service.undo(request.match_info["id"], by=who.name, reason=reason)
        await record(request, who, "action.undone", entry, {"reason": reason} if reason else {})
        return _json(_detail(entry))

    app.router.add_get("/api/actions", list_actions)
    app.router.add_get("/api/actions/{id}", get_action)
    app.router.add_get("/api/actions/{id}/approve", approve_page)
    app.router.add_post("/api/actions/{id}/approve", approve)
    app.router.add_post("/api/actions/{id}/reject", reject)
    app.router.add_post("/api/actions/{id}/undo", undo)
    return app
