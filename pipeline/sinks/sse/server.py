"""GET /stream: Server-Sent Events over Kafka topics for custom clients (see README.md in this folder).

Mounted by the worker at /sse (`ctx.http_mounts`), so clients call GET /sse/stream.
"""

from __future__ import annotations

import itertools
import logging
from datetime import datetime

from aiohttp import web

from pipeline.auth import Role, public, requires
from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.metrics import SSE_CLIENTS
from pipeline.secrets import resolve_secret, scrub_text
from pipeline.sinks.sse._filters import FilterError, RecordFilter, parse_filters
from pipeline.sinks.sse._position import Position, PositionError
from pipeline.sinks.sse._reader import KafkaReader, StartSpec, consumer_config
from pipeline.sinks.sse._session import ClientStream
from pipeline.sinks.sse.config import KIND_BY_TOPIC, SseConfig

log = logging.getLogger("pipeline.sinks.sse")

RESERVED_PARAMS = frozenset({"from", "since", "last_event_id", "access_token"})


class RequestError(ValueError):
    """A query parameter or header the client must fix (400)."""


class SseHub:
    """The endpoint's state: config and the streams currently open. Who may connect is the auth guard's job
    (viewer; `sse.token` is one more viewer credential, see `sse_credentials`)."""

    def __init__(self, config: SseConfig, kafka: KafkaSettings, names: TopicNames) -> None:
        self.config = config
        self._kafka = kafka
        self.kinds = {names(topic): KIND_BY_TOPIC[topic] for topic in config.topics}
        self._allowed = config.allowed_filters()
        self.streams: set[ClientStream] = set()
        self._closing = False
        self._ids = itertools.count(1)

    def __repr__(self) -> str:
        return f"SseHub(topics={list(self.kinds)}, streams={len(self.streams)})"

    async def handle_stream(self, request: web.Request) -> web.StreamResponse:
        try:
            record_filter = parse_filters(request.query.items(), self._allowed, RESERVED_PARAMS)
            start = start_spec(request)
        except FilterError as exc:
            return web.json_response({"error": str(exc), "allowed_filters": exc.allowed}, status=400)
        except RequestError as exc:
            return web.json_response({"error": str(exc)}, status=400)
        if self._closing or len(self.streams) >= self.config.max_clients:
            return web.json_response({"error": "too many SSE clients"}, status=503,
                                     headers={"Retry-After": str(self.config.retry_after_seconds)})
        stream = self._open(record_filter, start)
        self.streams.add(stream)
        SSE_CLIENTS.inc()
        log.info("SSE %s open from %s: %s", stream.name, request.remote, scrub_text(request.path_qs))
        try:
            return await stream.run(request)
        finally:
            self.streams.discard(stream)
            SSE_CLIENTS.dec()
            log.info("SSE %s closed after %d events", stream.name, stream.sent)

    def _open(self, record_filter: RecordFilter, start: StartSpec) -> ClientStream:
        name = f"sse-{next(self._ids)}"
        cfg = self.config
        reader = KafkaReader(consumer_config(self._kafka, cfg.prefetch_kbytes), self.kinds, start,
                             backlog_size=cfg.max_backlog, slow_client_seconds=cfg.slow_client_seconds,
                             poll_timeout=cfg.poll_timeout_seconds, start_timeout=cfg.start_timeout_seconds,
                             name=name)
        return ClientStream(name, cfg, self.kinds, reader, record_filter)

    async def on_shutdown(self, _app: web.Application) -> None:
        self._closing = True
        for stream in list(self.streams):
            stream.shutdown()


def start_spec(request: web.Request) -> StartSpec:
    """Last-Event-ID (header, or ?last_event_id=) wins over ?from= / ?since=, since EventSource reconnects
    with the original URL plus the header."""
    last = request.headers.get("Last-Event-ID") or request.query.get("last_event_id") or ""
    try:
        resume = Position.decode(last.strip()) if last.strip() else None
    except PositionError as exc:
        raise RequestError(str(exc)) from None
    froms, sinces = request.query.getall("from", []), request.query.getall("since", [])
    if len(froms) + len(sinces) > 1:
        raise RequestError("give at most one of from= and since=")
    if sinces:
        return StartSpec("since", parse_since(sinces[0]), resume)
    mode = froms[0] if froms else "latest"
    if mode == "latest":
        return StartSpec("latest", None, resume)
    if mode == "earliest":
        return StartSpec("earliest", None, resume)
    raise RequestError(f"from must be 'latest' or 'earliest', got {mode[:40]!r}")


def parse_since(value: str) -> int:
    """RFC 3339 with an offset -> epoch milliseconds. A '+' that arrived unescaped in a query became ' '."""
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    try:
        when = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise RequestError(
            f"since must be an RFC 3339 time like 2026-05-01T08:00:00Z, got {value[:40]!r}") from None
    if when.tzinfo is None:
        raise RequestError("since needs a UTC offset (Z or +08:00)")
    return int(when.timestamp() * 1000)


HUB_KEY = web.AppKey("sse_hub", SseHub)


def sse_credentials(config: SseConfig) -> list[tuple[str, frozenset[Role], str]]:
    """`sse.token` as a viewer credential for the auth guard (resolved now: a missing secret fails at start)."""
    return [("sse-client", frozenset({Role.VIEWER}), resolve_secret(config.token))] if config.token else []


def create_sse_app(config: SseConfig, kafka: KafkaSettings, names: TopicNames) -> web.Application:
    """The SSE sub-app (GET /stream): viewer, token also accepted as ?access_token= for EventSource clients;
    public only with `allow_anonymous` (an authenticating proxy in front)."""
    hub = SseHub(config, kafka, names)
    app = web.Application()
    app[HUB_KEY] = hub
    declare = (public("sse.allow_anonymous: an authenticating proxy in front answers for it")
               if config.allow_anonymous else requires(Role.VIEWER, query_token=True))
    app.router.add_get("/stream", declare(hub.handle_stream))
    app.on_shutdown.append(hub.on_shutdown)
    return app
