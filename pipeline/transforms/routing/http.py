"""The silences HTTP API as an aiohttp sub-application (mount it with `app.add_subapp("/alerting", ...)`).

  GET    /api/silences[?state=active|pending|expired]   -> [silence, ...]
  GET    /api/silences/{id}                              -> silence
  POST   /api/silences   {matchers, starts_at?, ends_at | duration, created_by, comment, id?}
                                                          -> {"silence_id": id, "silence": silence}
  DELETE /api/silences/{id}                              -> {"silence_id": id, "state": "expired"}

Errors are JSON `{"error": "..."}` with 400 (bad request) or 404 (unknown id). `publish` (optional) is awaited
with the changes of every mutation before the answer, so a 200 means the change reached the silence log.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import orjson
from aiohttp import web

from pipeline.transforms.routing.silences import STATES, SilenceChange, SilenceError, SilenceNotFound, SilenceStore

Publish = Callable[[Sequence[SilenceChange]], Awaitable[None]]
MAX_BODY_BYTES = 64 * 1024

STORE_KEY = web.AppKey("silence_store", SilenceStore)


def create_silences_app(store: SilenceStore, publish: Publish | None = None) -> web.Application:
    app = web.Application(client_max_size=MAX_BODY_BYTES)
    app[STORE_KEY] = store

    async def commit(changes: Sequence[SilenceChange]) -> None:
        if publish is not None and changes:
            await publish(changes)

    async def list_silences(request: web.Request) -> web.Response:
        state = request.query.get("state")
        if state is not None and state not in STATES:
            return _error(400, f"state must be one of {', '.join(STATES)}")
        now = store.clock()
        return _json([s.to_dict(now) for s in store.list(now, state)])

    async def get_silence(request: web.Request) -> web.Response:
        try:
            silence = store.get(request.match_info["id"])
        except SilenceNotFound:
            return _error(404, f"no silence {request.match_info['id']!r}")
        return _json(silence.to_dict(store.clock()))

    async def post_silence(request: web.Request) -> web.Response:
        try:
            body = orjson.loads(await request.read())
        except orjson.JSONDecodeError as exc:
            return _error(400, f"body is not JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "body must be a JSON object")
        try:
            silence, changes = store.set(body)
        except SilenceNotFound:
            return _error(404, f"no silence {body.get('id')!r} to update")
        except SilenceError as exc:
            return _error(400, str(exc))
        await commit(changes)
        return _json({"silence_id": silence.id, "silence": silence.to_dict(store.clock())})

    async def delete_silence(request: web.Request) -> web.Response:
        sid = request.match_info["id"]
        try:
            silence, changes = store.expire(sid)
        except SilenceNotFound:
            return _error(404, f"no silence {sid!r}")
        await commit(changes)
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
