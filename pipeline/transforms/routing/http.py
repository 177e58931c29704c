"""The silences HTTP API as an aiohttp sub-application (mount it with `app.add_subapp("/alerting", ...)`).

  GET    /api/silences[?state=active|pending|expired]   -> [silence, ...]                            (viewer)
  GET    /api/silences/{id}                              -> silence                                   (viewer)
  POST   /api/silences   {matchers, starts_at?, ends_at | duration, comment, id?}                   (operator)
                                                          -> {"silence_id": id, "silence": silence}
  DELETE /api/silences/{id}                              -> {"silence_id": id, "state": "expired"} (operator)

`created_by` is the authenticated principal (a `created_by` in the body is ignored). Errors are JSON
`{"error": "..."}`: 400 bad request, 401/403 from the auth guard, 404 unknown id, 503 the change could not be
persisted. A mutation is planned on a shadow of the store, `publish`ed (awaited until durable), and only then
applied, so a failed write leaves nothing active; then it is recorded as an operator event (`audit`).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

import orjson
from aiohttp import web

from pipeline.auth import OperatorLog, Principal, Role, operator_event, principal_of, requires
from pipeline.transforms.routing.silences import STATES, SilenceChange, SilenceError, SilenceNotFound, SilenceStore

Publish = Callable[[Sequence[SilenceChange]], Awaitable[None]]
MAX_BODY_BYTES = 64 * 1024

STORE_KEY = web.AppKey("silence_store", SilenceStore)
log = logging.getLogger(__name__)


def create_silences_app(store: SilenceStore, publish: Publish | None = None,
                        audit: OperatorLog | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE_KEY] = store

    async def commit(request: web.Request, principal: Principal, changes: Sequence[SilenceChange],
                     action: str, sid: str) -> web.Response | None:
        """Persist, apply, audit; a response when persisting failed (nothing changed)."""
        if changes:
            if publish is not None:
                try:
                    await publish(changes)
                except Exception as exc:  # the broker's reason, never a secret; nothing was applied
                    log.error("silence %s: %s not persisted: %s", sid, action, type(exc).__name__)
                    return _error(503, f"the silence log did not accept the change ({type(exc).__name__}); "
                                       "nothing changed, retry")
            store.commit(changes)
        if audit is not None and changes:
            current = store.get(sid)
            detail = {"matchers": [m.to_api() for m in current.matchers], "comment": current.comment,
                      "ends_at": current.to_dict()["ends_at"]}
            try:
                await audit.record(operator_event(principal, action, "silence", sid, detail=detail,
                                                  remote=request.remote))
            except Exception:
                log.exception("silence %s: %s applied but its audit event was not written", sid, action)
        return None

    @requires(Role.VIEWER)
    async def list_silences(request: web.Request) -> web.Response:
        state = request.query.get("state")
        if state is not None and state not in STATES:
            return _error(400, f"state must be one of {', '.join(STATES)}")
        now = store.clock()
        return _json([s.to_dict(now) for s in store.list(now, state)])

    @requires(Role.VIEWER)
    async def get_silence(request: web.Request) -> web.Response:
        try:
            silence = store.get(request.match_info["id"])
        except SilenceNotFound:
            return _error(404, f"no silence {request.match_info['id']!r}")
        return _json(silence.to_dict(store.clock()))

    @requires(Role.OPERATOR)
    async def post_silence(request: web.Request) -> web.Response:
        principal = principal_of(request)
        if principal is None:
            return _error(401, "authentication required")
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        body = {**body, "created_by": principal.name}
        try:
            silence, changes = store.shadow().set(body)
        except SilenceNotFound:
            return _error(404, f"no silence {body.get('id')!r} to update")
        except SilenceError as exc:
            return _error(400, str(exc))
        action = "silence.updated" if body.get("id") == silence.id else "silence.created"
        refused = await commit(request, principal, changes, action, silence.id)
        if refused is not None:
            return refused
        return _json({"silence_id": silence.id, "silence": silence.to_dict(store.clock())})

    @requires(Role.OPERATOR)
    async def delete_silence(request: web.Request) -> web.Response:
        principal = principal_of(request)
        if principal is None:
            return _error(401, "authentication required")
        sid = request.match_info["id"]
        try:
            silence, changes = store.shadow().expire(sid)
        except SilenceNotFound:
            return _error(404, f"no silence {sid!r}")
        refused = await commit(request, principal, changes, "silence.expired", sid)
        if refused is not None:
            return refused
        return _json({"silence_id": silence.id, "state": silence.state(store.clock())})

    app.router.add_get("/api/silences", list_silences)
    app.router.add_post("/api/silences", post_silence)
    app.router.add_get("/api/silences/{id}", get_silence)
    app.router.add_delete("/api/silences/{id}", delete_silence)
    return app


def _json(obj: object, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(obj), status=status, content_type="application/json")


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)
