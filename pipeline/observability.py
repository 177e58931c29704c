"""/metrics (Prometheus text) and /healthz for every process, as one small aiohttp app behind the auth guard."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.auth import AuthConfig, Authenticator, public, secure_app
from pipeline.metrics import REGISTRY

HealthCheck = Callable[[], dict[str, Any]]
METRICS_PUBLIC = "Prometheus scrape: counters and gauges only; labels carry no secret (masked at the source)"
HEALTH_PUBLIC = "liveness probe for orchestrators; says ok/not ok and names agents, nothing sensitive"


def add_observability_routes(app: web.Application, health: HealthCheck | None = None) -> None:
    """Mount GET /metrics and GET /healthz; health() returns {"ok": bool, ...details} (200 or 503)."""

    @public(METRICS_PUBLIC)
    async def metrics(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @public(HEALTH_PUBLIC)
    async def healthz(_: web.Request) -> web.Response:
        body = health() if health is not None else {"ok": True}
        return web.Response(body=orjson.dumps(body), status=200 if body.get("ok") else 503,
                            content_type="application/json")

    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)


async def start_server(app: web.Application, host: str, port: int, auth: AuthConfig | Authenticator, *,
                       process: str, secured: bool = False, shutdown_timeout: float = 60.0) -> web.AppRunner:
    """Serve `app` behind the auth guard (TLS with client certificates when auth.mtls is set); refuses to
    start when a route is undeclared or a state-changing route would be unauthenticated. `secured`: the
    caller already ran `secure_app` (to fail before anything else starts)."""
    authenticator = auth if isinstance(auth, Authenticator) else Authenticator(auth)
    if not secured:
        secure_app(app, authenticator, process=process, host=host)
    mtls = authenticator.config.mtls
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=shutdown_timeout)
    await runner.setup()
    await web.TCPSite(runner, host, port, ssl_context=mtls.server_context() if mtls else None).start()
    return runner


async def start_observability_server(host: str, port: int, health: HealthCheck | None = None,
                                     extra: Callable[[web.Application], None] | None = None, *,
                                     auth: AuthConfig | Authenticator | None = None,
                                     process: str = "worker") -> web.AppRunner:
    """Serve /metrics and /healthz (plus any `extra` routes) in the current loop; returns the runner to clean up."""
    app = web.Application()
    add_observability_routes(app, health)
    if extra is not None:
        extra(app)
    return await start_server(app, host, port, auth or AuthConfig(), process=process)
