"""The simulator process: one aiohttp app with /cgi-bin/ (Exmail), /_sim/ (admin), /metrics, the mounted
WeCom/OA surfaces, a ticker driving the traffic generator and pushes, and `run_simulator` for tests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.metrics import REGISTRY
from pipeline.sim._corp import CorpState
from pipeline.sim._errors import ERRMSG
from pipeline.sim._exmail import ExmailApi, json_response
from pipeline.sim._faults import FaultEngine
from pipeline.sim._surfaces import Surface, mount_surfaces
from pipeline.sim._tokens import RateLimiter, TokenStore
from pipeline.sim.admin import admin_routes
from pipeline.sim.client import SimAdminClient
from pipeline.sim.clock import SimClock
from pipeline.sim.config import APPS, Choices, SimConfig
from pipeline.sim.generator import TrafficGenerator

log = logging.getLogger("pipeline.sim")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _start_time(config: SimConfig, clock_tz: Any) -> float:
    if config.start is None:
        return time.time()
    if isinstance(config.start, datetime):
        start = config.start if config.start.tzinfo else config.start.replace(tzinfo=clock_tz)
        return start.timestamp()
    return float(config.start)


class Simulator:
    """Build with a `SimConfig`, then `await start()` (or use `run_simulator`)."""

    def __init__(self, config: SimConfig | None = None) -> None:
        self.config = config or SimConfig()
        cfg = self.config
        self.clock = SimClock(0.0, cfg.speed, utc_offset_minutes=cfg.utc_offset_minutes)
        start = _start_time(cfg, self.clock.tz)
        self.clock.set(start)
        self.corp = CorpState(cfg, self.clock)
        self.tokens = TokenStore(self.corp.corp_id, {app: cfg.secret_for(app) for app in APPS},
                                 cfg.token_expires_in, cfg.choices)
        self.limiter = RateLimiter(cfg.choices.app_qps)
        self.faults = FaultEngine(cfg.fault_seed if cfg.fault_seed is not None else cfg.seed, cfg.faults)
        self.generator = TrafficGenerator(self.corp, cfg.traffic, cfg.seed)
        self.generator.start_at(start)
        self.api = ExmailApi(self.corp, self.tokens, self.limiter, cfg.choices, self.clock)
        self.surfaces: dict[str, Surface] = {}
        self.app = self._build_app()
        self.base_url: str | None = None
        self.port: int | None = None
        self._runner: web.AppRunner | None = None
        self._ticker: asyncio.Task[None] | None = None

    def __repr__(self) -> str:
        return f"Simulator(corp_id={self.corp.corp_id!r}, base_url={self.base_url!r})"

    # --- app

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._fault_middleware], client_max_size=8 * 1024 * 1024)
        app.router.add_route("*", "/cgi-bin/{endpoint:.+}", self.api.handle)
        app.router.add_routes(admin_routes(self))
        app.router.add_get("/metrics", self._metrics)
        if self.config.mount_surfaces:
            self.surfaces = mount_surfaces(app, {
                "seed": self.config.seed, "clock": self.clock.now, "sim_clock": self.clock,
                "corp_id": self.corp.corp_id, "config": None,
            })
        return app

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    @web.middleware
    async def _fault_middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not request.path.startswith("/cgi-bin/"):
            return await handler(request)
        self.tick()
        decision = self.faults.decide(request.path[len("/cgi-bin/"):].strip("/"))
        if decision.delay:
            await asyncio.sleep(decision.delay)
        if decision.expire_token and request.query.get("access_token"):
            self.tokens.expire(request.query["access_token"])
        rule = decision.terminal
        if rule is None:
            return await handler(request)
        if rule.kind == "drop":
            if request.transport is not None:
                request.transport.abort()
            raise asyncio.CancelledError
        if rule.kind == "http_status":
            return web.Response(status=rule.status, content_type="text/html",
                                text=f"<html><body>{rule.status} simulated failure</body></html>")
        return json_response({"errcode": rule.errcode, "errmsg": rule.errmsg or ERRMSG.get(rule.errcode, "error")})

    def apply_choices(self, choices: Choices) -> None:
        """Switch behaviour choices at run time (shared by the API, tokens and rate limiter)."""
        for name, value in choices.model_dump().items():
            setattr(self.config.choices, name, value)
        self.limiter.qps = self.config.choices.app_qps
        self.corp.sync_choices()

    # --- time

    def tick(self) -> None:
        """Generate traffic up to now and fire due arrivals/reads (pushes)."""
        now = self.clock.now()
        self.generator.catch_up(now)
        self.corp.process_due(now)

    async def _tick_forever(self) -> None:
        while True:
            try:
                self.tick()
            except Exception:
                log.exception("simulator tick failed")
            await asyncio.sleep(self.config.tick_interval)

    # --- lifecycle

    async def start(self) -> None:
        if self.config.callback is not None:
            self.corp.pusher.configure(self.config.callback)
        self._runner = web.AppRunner(self.app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port)
        await site.start()
        address = self._runner.addresses[0]
        self.port = int(address[1])
        host = self.config.host if self.config.host not in ("0.0.0.0", "::") else "127.0.0.1"
        self.base_url = f"http://{host}:{self.port}"
        self._ticker = asyncio.get_running_loop().create_task(self._tick_forever())

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._ticker
            self._ticker = None
        await self.corp.pusher.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    @property
    def credentials(self) -> dict[str, Any]:
        base = self.base_url or f"http://{self.config.host}:{self.config.port}"
        return {
            "corp_id": self.corp.corp_id,
            "domain": self.corp.domain,
            "service_mailbox": self.corp.company.service_mailbox,
            "admins": list(self.corp.company.admins),
            "secrets": {app: self.config.secret_for(app) for app in APPS},
            "callback_token": self.corp.callback_token,
            "callback_aes_key": self.corp.callback_aes_key,
            "base_url": base,
            "exmail_base": f"{base}/cgi-bin/",
            "wecom_base": f"{base}/wecom/cgi-bin/",
            "dingtalk_base": f"{base}/dingtalk/",
            "feishu_base": f"{base}/feishu/",
            "receiver_base": f"{base}/receiver/",
            "admin_base": f"{base}/_sim/",
            "mounted_surfaces": sorted(self.surfaces),
            "surface_settings": {name: s.settings() for name, s in sorted(self.surfaces.items())},
            "utc_offset_minutes": self.config.utc_offset_minutes,
            "seed": self.config.seed,
        }

    def write_credentials(self, path: str | Path) -> None:
        """Write the credentials JSON readable by the owner only (it holds the app secrets)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(orjson.dumps(self.credentials, option=orjson.OPT_INDENT_2))
        os.replace(tmp, target)


@contextlib.asynccontextmanager
async def run_simulator(config: SimConfig | None = None) -> AsyncIterator[SimulatorHandle]:
    """Run a simulator on a free 127.0.0.1 port in the current loop; yields a handle with `base_url`,
    `credentials` and `admin` (an httpx client for /_sim/)."""
    sim = Simulator(config)
    await sim.start()
    assert sim.base_url is not None
    admin = SimAdminClient(sim.base_url)
    try:
        yield SimulatorHandle(sim, admin)
    finally:
        await admin.aclose()
        await sim.stop()


class SimulatorHandle:
    """What `run_simulator` yields: the live `Simulator` plus an admin client."""

    def __init__(self, sim: Simulator, admin: Any) -> None:
        self.sim = sim
        self.admin = admin

    @property
    def base_url(self) -> str:
        assert self.sim.base_url is not None
        return self.sim.base_url

    @property
    def exmail_base(self) -> str:
        return f"{self.base_url}/cgi-bin/"

    @property
    def credentials(self) -> dict[str, Any]:
        return self.sim.credentials

    def __repr__(self) -> str:
        return f"SimulatorHandle(base_url={self.sim.base_url!r})"
