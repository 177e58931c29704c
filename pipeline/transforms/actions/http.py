"""The actions HTTP API as an aiohttp application (mount it with `app.add_subapp("/actions", ...)`).

  GET  /api/actions[?state=pending|approvals|recent&limit=N]  -> {"actions": [summary, ...]}      (operator)
  GET  /api/actions/{id}                                      -> summary + calls               (operator)
  GET  /api/actions/{id}/approve?token=T   -> an HTML page showing the action with an "Approve" button
                                              (a GET never approves: chat apps prefetch links)
  POST /api/actions/{id}/approve   {"token": T} or form token=T (approval link), or {"by": name} (operator)
  POST /api/actions/{id}/reject    {"token": T} or {"by": name, "reason": text}
  POST /api/actions/{id}/undo      {"by": name, "reason": text}                                  (operator)

"Operator" means `Authorization: Bearer <actions.api_token>` when an API token is configured (without one
the API trusts its network: mount it on an internal listener only). Errors are JSON {"error": "..."}:
400 bad request, 401 missing/wrong operator token, 403 bad or expired approval token, 404 unknown action,
409 the action's state does not allow it.
"""

from __future__ import annotations

import hmac
import html
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from aiohttp import web

from pipeline.transforms.actions.approval import ApprovalError
from pipeline.transforms.actions.model import LedgerEntry
from pipeline.transforms.actions.service import (
    ActionInputError,
    ActionNotFound,
    ActionService,
    ActionStateError,
)

MAX_BODY_BYTES = 64 * 1024
SERVICE_KEY = web.AppKey("actions_service", ActionService)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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


def create_actions_app(service: ActionService) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[SERVICE_KEY] = service

    def operator(request: web.Request) -> bool:
        token = service.api_token
        if token is None:
            return True
        given = request.headers.get("Authorization", "")
        return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())

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

    @guarded
    async def list_actions(request: web.Request) -> web.Response:
        if not operator(request):
            return _error(401, "operator token required")
        state = request.query.get("state", "pending")
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            return _error(400, "limit must be an integer")
        entries = await service.list_actions(state, max(1, min(limit, 1000)))
        return _json({"actions": [e.summary() for e in entries]})

    @guarded
    async def get_action(request: web.Request) -> web.Response:
        if not operator(request):
            return _error(401, "operator token required")
        return _json(_detail(await service.get(request.match_info["id"])))

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
            "<label>Your name <input name='by'></label> <button type='submit'>Approve</button></form>"
        )
        return _page(
            f"Approve {r.kind.value} for {r.target}?", f"<table>{rows}</table><ul>{calls}</ul>{form}"
        )

    async def decide(request: web.Request, approve: bool) -> web.Response:
        action_id = request.match_info["id"]
        data = await body(request)
        token = data.get("token") or None
        if token is None and not operator(request):
            return _error(401, "an approval token or the operator token is required")
        if token is not None and not isinstance(token, str):
            return _error(400, "token must be a string")
        by = str(data.get("by") or ("approval-link" if token else "operator"))
        if approve:
            entry = await service.approve(action_id, by=by, token=token)
        else:
            if token is not None:
                service.verify_token(action_id, token)
            entry = await service.reject(action_id, by=by, reason=str(data.get("reason") or ""))
        if request.content_type == "application/x-www-form-urlencoded":
            verb = "approved" if approve else "rejected"
            return _page(
                f"Action {verb}",
                f"<p>{html.escape(entry.kind.value)} for "
                f"{html.escape(entry.request.target)}: {html.escape(entry.state.value)} "
                f"{html.escape(entry.detail or entry.error or '')}</p>",
            )
        return _json(_detail(entry))

    @guarded
    async def approve(request: web.Request) -> web.Response:
        return await decide(request, True)

    @guarded
    async def reject(request: web.Request) -> web.Response:
        return await decide(request, False)

    @guarded
    async def undo(request: web.Request) -> web.Response:
        if not operator(request):
            return _error(401, "operator token required")
        data = await body(request)
        entry = await service.undo(
            request.match_info["id"],
            by=str(data.get("by") or "operator"),
            reason=str(data.get("reason") or ""),
        )
        return _json(_detail(entry))

    app.router.add_get("/api/actions", list_actions)
    app.router.add_get("/api/actions/{id}", get_action)
    app.router.add_get("/api/actions/{id}/approve", approve_page)
    app.router.add_post("/api/actions/{id}/approve", approve)
    app.router.add_post("/api/actions/{id}/reject", reject)
    app.router.add_post("/api/actions/{id}/undo", undo)
    return app
