"""The SSE app on a real TCP port over the real broker: fresh prefixed topics per test, a producer, record
builders, and a reader that follows a stream until its position covers given offsets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson
import pytest
from aiohttp import web

from pipeline.auth import AuthConfig, Authenticator, secure_app
from pipeline.envelope import fingerprint
from pipeline.kafka import TOPICS, EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.producer import Delivered
from pipeline.sinks.sse import SseConfig, create_sse_app, sse_credentials
from pipeline.sinks.sse._position import Position
from pipeline.sinks.sse._wire import SseEvent, SseParser

TOKEN = "it-sse-token-31f9"
PARTITIONS = 3
_STREAMED = ("exmail.notifications", "exmail.alerts", "exmail.events")


@dataclass
class SseEnv:
    kafka: KafkaSettings
    names: TopicNames
    producer: EventProducer
    token: str = TOKEN
    runners: list[web.AppRunner] = field(default_factory=list)

    async def serve(self, port: int = 0, **overrides: Any) -> str:
        """Start create_sse_app mounted at /sse/ as the worker mounts it; returns the GET /sse/stream URL."""
        fields: dict[str, Any] = {"token": "env:SSE_IT_TOKEN", "heartbeat_seconds": 0.3, **overrides}
        config = SseConfig(**fields)
        root = web.Application()
        root.add_subapp("/sse/", create_sse_app(config, self.kafka, self.names))
        secure_app(root, Authenticator(AuthConfig(), extra_tokens=sse_credentials(config)), process="sse",
                   host="127.0.0.1")  # the worker's guard, as `pipeline worker` serves it
        runner = web.AppRunner(root, access_log=None, shutdown_timeout=5)
        await runner.setup()
        self.runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", port)
        await site.start()
        bound = runner.addresses[-1][1]
        return f"http://127.0.0.1:{bound}/sse/stream"

    async def produce(self, base_topic: str, records: list[tuple[str, dict[str, Any]]]) -> list[Delivered]:
        topic = self.names(base_topic)
        return await self.producer.send_many([(topic, key, orjson.dumps(value)) for key, value in records])


@pytest.fixture
async def sse_env(
    kafka_bootstrap: str, topic_prefix: str, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[SseEnv]:
    monkeypatch.setenv("SSE_IT_TOKEN", TOKEN)
    specs = tuple(s for s in TOPICS if s.name in _STREAMED)
    await asyncio.to_thread(
        ensure_topics, kafka_bootstrap, prefix=topic_prefix, partitions=PARTITIONS, specs=specs
    )
    kafka = KafkaSettings(
        bootstrap=kafka_bootstrap, topic_prefix=topic_prefix, partitions=PARTITIONS, linger_ms=0
    )
    env = SseEnv(kafka, TopicNames(topic_prefix), EventProducer(kafka))
    try:
        yield env
    finally:
        for runner in env.runners:
            await runner.cleanup()
        env.producer.close(5)


def _labels(alertname: str, severity: str, corp: str, user: str) -> dict[str, str]:
    return {"alertname": alertname, "severity": severity, "corp": corp, "user": user}


def notification(
    seq: int,
    *,
    receiver: str = "ops",
    severity: str = "warning",
    corp: str = "wwcorp",
    alertname: str = "FailedLogins",
    user: str = "alice@example.com",
) -> tuple[str, dict[str, Any]]:
    """(key, envelope) shaped as schemas/notification.v1.json."""
    labels = _labels(alertname, severity, corp, user)
    alert: dict[str, Any] = {
        "fingerprint": fingerprint("a", seq),
        "status": "firing",
        "rule": "r",
        "labels": labels,
        "annotations": {"summary": f"#{seq}"},
        "starts_at": "2026-05-01T00:00:00.000Z",
        "ends_at": "2026-05-01T01:00:00.000Z",
        "event_ids": [],
        "action": None,
        "sso_user": None,
    }
    data: dict[str, Any] = {
        "receiver": receiver,
        "status": "firing",
        "reason": "first notification",
        "group_key": f'root:{{alertname="{alertname}"}}',
        "group_id": fingerprint("g", alertname),
        "group_labels": {"alertname": alertname},
        "common_labels": labels,
        "route_id": "root",
        "sequence": seq,
        "sequence_start": "2026-05-01T00:00:00.000Z",
        "firing": 1,
        "resolved": 0,
        "alerts": [alert],
        "title": f"n{seq}",
        "title_zh": f"n{seq}",
        "summary": "",
        "summary_zh": "",
    }
    envelope = {
        "schema": "exmail.notification/1",
        "id": fingerprint("n", seq),
        "corp_id": corp,
        "source": "pipeline.transforms.routing",
        "observed_at": "2026-05-01T00:00:00.000Z",
        "occurred_at": "2026-05-01T00:00:00.000Z",
        "data": data,
    }
    return f"{receiver}-{seq}", envelope


def alert(
    seq: int, *, alertname: str = "AdminDeletedUser", severity: str = "critical"
) -> tuple[str, dict[str, Any]]:
    labels = _labels(alertname, severity, "wwcorp", "bob@example.com")
    key = fingerprint("a", seq)
    data: dict[str, Any] = {
        "fingerprint": key,
        "status": "firing",
        "rule": alertname,
        "labels": labels,
        "annotations": {},
        "starts_at": "2026-05-01T00:00:00.000Z",
        "ends_at": "2026-05-01T01:00:00.000Z",
        "event_ids": [],
        "action": None,
        "sso_user": None,
    }
    return key, {
        "schema": "exmail.alert/1",
        "id": fingerprint("alert", seq),
        "corp_id": "wwcorp",
        "source": "rules",
        "observed_at": "2026-05-01T00:00:00.000Z",
        "occurred_at": "2026-05-01T00:00:00.000Z",
        "data": data,
    }


def event(
    seq: int, *, dataset: str = "exmail.login_log", user: str = "bob@example.com"
) -> tuple[str, dict[str, Any]]:
    data = {
        "@timestamp": "2026-05-01T00:00:00.000Z",
        "event": {"dataset": dataset, "action": "login"},
        "user": {"email": user, "id": user},
        "organization": {"id": "wwcorp"},
        "seq": seq,
    }
    return f"wwcorp/{user}", {
        "schema": "exmail.event/1",
        "id": fingerprint("event", seq),
        "corp_id": "wwcorp",
        "source": "normalize",
        "observed_at": "2026-05-01T00:00:00.000Z",
        "occurred_at": "2026-05-01T00:00:00.000Z",
        "data": data,
    }


@pytest.fixture
def builders() -> dict[str, Callable[..., tuple[str, dict[str, Any]]]]:
    return {"notification": notification, "alert": alert, "event": event}


@dataclass
class Followed:
    events: list[SseEvent]
    last_event_id: str | None
    status: int


Follow = Callable[..., Awaitable[Followed]]


@pytest.fixture
def follow() -> Follow:
    """follow(url, until=offsets | count=n, headers=, params=) reads one stream until its position covers
    `until` (from event ids and heartbeat ids) or `count` events arrived, then disconnects."""

    async def run(
        url: str,
        *,
        until: dict[tuple[str, int], int] | None = None,
        count: int | None = None,
        headers: dict[str, str] | None = None,
        params: dict[str, Any] | None = None,
    ) -> Followed:
        hdrs = {"Authorization": f"Bearer {TOKEN}", **(headers or {})}
        parser = SseParser()
        events: list[SseEvent] = []

        def done() -> bool:
            if count is not None:
                return len(events) >= count
            if until is None or parser.last_event_id is None:
                return False
            offsets = Position.decode(parser.last_event_id).offsets
            return all(offsets.get(k, 0) >= v for k, v in until.items())

        async with (
            asyncio.timeout(20),
            httpx.AsyncClient(timeout=10) as http,
            http.stream("GET", url, headers=hdrs, params=params) as response,
        ):
            if response.status_code != 200:
                await response.aread()
                return Followed([], None, response.status_code)
            async for line in response.aiter_lines():
                events.extend(parser.feed(line))
                if line == "" and done():
                    break
        return Followed(events, parser.last_event_id, 200)

    return run
