"""/metrics (Prometheus text) and /healthz for every process, as one small aiohttp app."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.metrics import REGISTRY

HealthCheck = Callable[[], dict[str, Any]]


def add_observability_routes(app: web.Application, health: HealthCheck | None = None) -> None:
    """Mount GET /metrics and GET /healthz; health() returns {"ok": bool, ...details} (200 or 503)."""

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        body = health() if health is not None else {"ok": True}
        return web.Response(body=orjson.dumps(body), status=200 if body.get("ok") else 503,
                            content_type="application/json")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)


async def start_observability_server(host: str, port: int, health: HealthCheck | None = None,
                                     extra: Callable[[web.Application], None] | None = None) -> web.AppRunner:
    """Serve /metrics and /healthz (plus any `extra` routes) in the current loop; returns the runner to clean up."""
    app = web.Application()
    add_observability_routes(app, health)
    if extra is not None:
        extra(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
