"""The ingest process (`pipeline ingest`): builds every source and the HTTP endpoints from an `IngestConfig`.

One asyncio process serves several corps: per corp an Exmail client (its own rate limits), the log pollers,
the mailstatus summary, the directory, options and newcount pollers, and the callback endpoint; plus the HR
intake, /metrics (Prometheus text) and /healthz. Shutdown stops the HTTP server first (no new pushes), lets
running polls finish within `shutdown_grace_seconds` (their cursors are saved as each completes), cancels the
rest (whose cursors did not move, so the next start re-queries them), then flushes the producer.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from pipeline.auth import KafkaOperatorLog, declare_routes, public
from pipeline.envelope import Envelope
from pipeline.exmail import ExmailClient, ExmailSettings
from pipeline.exmail.crypto import WXBizMsgCrypt
from pipeline.kafka import EventProducer, TopicNames, ensure_topics
from pipeline.kafka.claims import ClaimLog
from pipeline.kafka.reader import KafkaReader
from pipeline.kafka.state import StateTopic
from pipeline.metrics import REGISTRY
from pipeline.observability import HEALTH_PUBLIC, METRICS_PUBLIC, start_server
from pipeline.secrets import resolve_secret
from pipeline.sources._clock import Clock, SimClockFollower, SystemClock
from pipeline.sources._emit import Emitter
from pipeline.sources._intake import IntakeGate, intake_producer
from pipeline.sources._runtime import CorpRuntime, Poller, Runtime
from pipeline.sources._window import CorpCalendar
from pipeline.sources.callback import CallbackEndpoint
from pipeline.sources.config import IngestConfig, SsoSettings, client_settings
from pipeline.sources.cursor import CursorStore
from pipeline.sources.hr import HrIntake
from pipeline.sources.pollers import build_pollers
from pipeline.sso import SsoLinkSigner, add_sso_routes
from pipeline.sso_gateway import SsoGateway, SsoGatewaySettings

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Corp:
    runtime: CorpRuntime
    pollers: dict[str, Poller]


class Ingest:
    """Sources and endpoints of one process. `open()` connects, `start()` serves, `stop()` shuts down.

    `clock` (the API's notion of now), `wall_clock` (for replay windows) and `client_factory` exist for tests."""

    def __init__(
        self,
        config: IngestConfig,
        *,
        clock: Clock | None = None,
        wall_clock: Callable[[], float] = time.time,
        client_factory: Callable[[ExmailSettings], ExmailClient] | None = None,
    ) -> None:
        self.config = config
        self._clock_given = clock
        self._wall = wall_clock
        self._client_factory = client_factory or ExmailClient
        self.names = TopicNames(config.kafka.topic_prefix)
        self.producer: EventProducer | None = None
        self.rt: Runtime | None = None
        self.corps: dict[str, _Corp] = {}
        self.stop_event = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self._follower: SimClockFollower | None = None
        self.intake: IntakeGate | None = None
        self._intake_producer: EventProducer | None = None
        self.claims: ClaimLog | None = None
        self.started_at = time.time()

    def __repr__(self) -> str:
        return f"Ingest(corps={[c.name for c in self.config.corps]!r})"

    # ------------------------------------------------------------ building

    async def open(self) -> None:
        """Create topics, the producer and clients; load cursors. Nothing polls yet."""
        cfg = self.config
        await asyncio.to_thread(
            ensure_topics, cfg.kafka.bootstrap, prefix=cfg.kafka.topic_prefix, partitions=cfg.kafka.partitions,
            replication_factor=cfg.kafka.replication_factor,
        )
        clock: Clock
        if self._clock_given is not None:
            clock = self._clock_given
        elif cfg.clock.kind == "sim":
            assert cfg.clock.sim_admin_url is not None
            token = resolve_secret(cfg.clock.sim_admin_token) if cfg.clock.sim_admin_token else None
            self._follower = SimClockFollower(cfg.clock.sim_admin_url, token=token,
                                              refresh_seconds=cfg.clock.refresh_seconds)
            await self._follower.start()
            clock = self._follower
        else:
            clock = SystemClock()
        self.producer = EventProducer(cfg.kafka)
        emitter = Emitter(self.producer, self.names)
        # pushed records get their own short-timeout producer: a pusher's answer is due in seconds, a poller's not
        self._intake_producer = intake_producer(cfg.kafka, cfg.intake.answer_timeout_seconds)
        self.intake = IntakeGate(Emitter(self._intake_producer, self.names),
                                 dedup_window_seconds=cfg.intake.dedup_window_seconds, now=self._wall)
        reader = KafkaReader(cfg.kafka.bootstrap)
        cursors = CursorStore(StateTopic(self.producer, reader, self.names.state("cursors")))
        await cursors.load()
        state = StateTopic(self.producer, reader, self.names.state("directory"))
        self.rt = Runtime(emitter=emitter, cursors=cursors, state=state, clock=clock, poll=cfg.poll, reader=reader)
        if cfg.sso is not None:  # used SSO links, shared with every ingest replica and kept over restarts
            self.claims = ClaimLog(self.producer, cfg.kafka.bootstrap, self.names.state("claims"))
            await self.claims.start()
        for corp_cfg in cfg.corps:
            client = self._client_factory(client_settings(corp_cfg, cfg.poll.span_days))
            corp = CorpRuntime(config=corp_cfg, client=client, calendar=CorpCalendar(corp_cfg.utc_offset_minutes))
            self.corps[corp_cfg.name] = _Corp(corp, build_pollers(self.rt, corp))

    def http_app(self) -> web.Application:
        """Every route declared (pipeline.auth); `start` puts the auth guard in front."""
        assert self.rt is not None
        app = web.Application()
        routes: list[web.RouteDef] = [web.get("/metrics", public(METRICS_PUBLIC)(self._metrics)),
                                      web.get("/healthz", public(HEALTH_PUBLIC)(self._health))]
        assert self.intake is not None
        for corp in self.config.corps:
            if corp.callback is None:
                continue
            crypt = WXBizMsgCrypt(resolve_secret(corp.callback.token), resolve_secret(corp.callback.aes_key),
                                  corp.corp_id)
            endpoint = CallbackEndpoint(
                corp_id=corp.corp_id, crypt=crypt, gate=self.intake, topic=self.names.raw("new_mail"),
                replay_window_seconds=corp.callback.replay_window_seconds,
                max_body_bytes=corp.callback.max_body_bytes, now=self._wall,
            )
            routes.extend(declare_routes(endpoint.routes(corp.callback_path), public(
                "Exmail's push: msg_signature over token/timestamp/nonce, replay window, AES decryption")))
        if self.config.hr is not None:
            hr = self.config.hr
            intake = HrIntake(
                secret=resolve_secret(hr.hmac_secret), corp_ids=[c.corp_id for c in self.config.corps],
                gate=self.intake, topic=self.names.hr_lifecycle, max_body_bytes=hr.max_body_bytes,
                replay_window_seconds=hr.replay_window_seconds, now=self._wall,
            )
            routes.extend(declare_routes(intake.routes(hr.path), public(
                "HR system's push: HMAC-SHA256 signature over timestamp and body, window and replay cache")))
        app.add_routes(routes)
        if self.config.sso is not None:
            self._add_sso(app, self.config.sso)
        if self.config.sso_gateway is not None:
            self._add_sso_gateway(app, self.config.sso_gateway)
        return app

    def _add_sso_gateway(self, app: web.Application, gw: SsoGatewaySettings) -> None:
        """<gw.path>/mail etc.: employees' OIDC/LDAP login into their own or a shared mailbox (logins recorded
        on exmail.actions through the delivery-acknowledged producer)."""
        corp = self.corps[self.config.gateway_corp().name].runtime
        producer, topic = self.producer, self.names.actions
        assert producer is not None

        async def login_url(mailbox: str) -> str:
            return (await corp.client.get_login_url(mailbox)).login_url.get_secret_value()

        async def record(key: bytes, envelope: Envelope) -> None:
            await producer.send(topic, envelope, key)

        SsoGateway(gw, corp_id=corp.config.corp_id, login_url=login_url, record=record, clock=self._wall).mount(app)

    def _add_sso(self, app: web.Application, sso: SsoSettings) -> None:
        """GET <sso.path>?t=... : verify the alert's signed link, then redirect to a fresh Exmail login URL."""
        signer = SsoLinkSigner(resolve_secret(sso.secret), sso.path, sso.ttl_seconds, clock=self._wall)
        clients = {c.runtime.config.corp_id: c.runtime.client for c in self.corps.values()
                   if c.runtime.config.secrets.sso}

        async def fetch(corp_id: str, userid: str) -> str | None:
            client = clients.get(corp_id)
            if client is None:
                return None
            return (await client.get_login_url(userid)).login_url.get_secret_value()

        assert self.claims is not None and self.producer is not None
        add_sso_routes(app, signer, fetch, self.claims, path=sso.path,
                       audit=KafkaOperatorLog(self.producer, self.names.actions))

    async def _metrics(self, request: web.Request) -> web.Response:
        return web.Response(body=generate_latest(REGISTRY), headers={"Content-Type": CONTENT_TYPE_LATEST})

    def health(self) -> dict[str, Any]:
        sources = {
            f"{name}/{stream}": {"failures": p.failures, "window": [d.isoformat() for d in p.window] if p.window
                                 else None}
            for name, corp in self.corps.items() for stream, p in corp.pollers.items()
        }
        running = self.rt is not None and not self.stop_event.is_set()
        return {"status": "ok" if running else "stopping", "uptime_seconds": round(time.time() - self.started_at, 1),
                "sources": sources}

    async def _health(self, request: web.Request) -> web.Response:
        body = self.health()
        return web.Response(status=200 if body["status"] == "ok" else 503, body=orjson.dumps(body),
                            content_type="application/json")

    # ------------------------------------------------------------ running

    @property
    def http_url(self) -> str | None:
        """Base URL of the HTTP server once started (the bound port when configured with port 0)."""
        if self._runner is None:
            return None
        for addr in self._runner.addresses:
            if isinstance(addr, tuple):
                return f"http://{addr[0]}:{addr[1]}"
        return None

    async def start(self, *, serve_http: bool = True, pollers: bool = True) -> None:
        if self.rt is None:
            await self.open()
        if serve_http:
            await self._rebuild_intake()
            self._runner = await start_server(self.http_app(), self.config.http.host, self.config.http.port,
                                              self.config.auth, process="ingest", shutdown_timeout=5.0)
            log.info("ingest HTTP on %s", self.http_url)
        if pollers:
            for name, corp in self.corps.items():
                for stream, poller in corp.pollers.items():
                    task = asyncio.create_task(poller.run(self.stop_event), name=f"poll:{name}/{stream}")
                    self._tasks.append(task)

    def _push_topics(self) -> list[str]:
        topics = [self.names.raw("new_mail")] if any(c.callback for c in self.config.corps) else []
        return topics + ([self.names.hr_lifecycle] if self.config.hr is not None else [])

    async def _rebuild_intake(self) -> None:
        """Remember the pushed record ids stored in the dedup window, so a retry after a restart is not produced."""
        assert self.intake is not None
        topics = self._push_topics()
        if topics:
            remembered = await self.intake.rebuild(self.config.kafka.bootstrap, topics)
            log.info("intake: %d record ids of the last %ds remembered", remembered,
                     self.config.intake.dedup_window_seconds)

    async def wait(self) -> None:
        await self.stop_event.wait()

    async def stop(self) -> None:
        """Graceful shutdown; safe to call twice."""
        self.stop_event.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=self.config.shutdown_grace_seconds)
            for task in pending:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)
            self._tasks = []
        await self.close()

    async def close(self) -> None:
        if self._intake_producer is not None:
            await asyncio.to_thread(self._intake_producer.close, 10.0)
            self._intake_producer = None
        if self.claims is not None:
            await self.claims.stop()
            self.claims = None
        if self.producer is not None:
            remaining = await asyncio.to_thread(self.producer.close, 30.0)
            if remaining:
                log.error("producer closed with %d records undelivered (they will be re-polled)", remaining)
            self.producer = None
        for corp in self.corps.values():
            await corp.runtime.client.aclose()
        if self._follower is not None:
            await self._follower.stop()
            self._follower = None


async def run_ingest(config: IngestConfig, stop: asyncio.Event | None = None) -> None:
    """Run until `stop` is set (the CLI sets it on SIGTERM/SIGINT)."""
    ingest = Ingest(config)
    await ingest.start()
    try:
        if stop is None:
            await ingest.wait()
        else:
            waiter = asyncio.create_task(stop.wait())
            inner = asyncio.create_task(ingest.wait())
            await asyncio.wait({waiter, inner}, return_when=asyncio.FIRST_COMPLETED)
            for t in (waiter, inner):
                t.cancel()
    finally:
        await ingest.stop()
