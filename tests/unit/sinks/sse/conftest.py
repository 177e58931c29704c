"""An in-memory stand-in for confluent-kafka's Consumer (patched into the SSE reader) and an SSE app served on
a real TCP port, so the HTTP side is exercised end to end without a broker."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from pipeline.auth import AuthConfig, Authenticator, secure_app
from pipeline.kafka import KafkaSettings, TopicNames
from pipeline.sinks.sse import SseConfig, _reader, create_sse_app, sse_credentials
from tests.unit._kafka_fakes import FakeMessage

TOKEN = "unit-sse-token-7c1d"
TOPIC = "exmail.notifications"


@dataclass
class _Meta:
    partitions: dict[int, Any]
    error: Any = None


@dataclass
class _Metadata:
    topics: dict[str, _Meta]


@dataclass
class FakeBroker:
    """Topic -> partitions -> values; consumers see appends as they happen."""

    logs: dict[str, list[list[bytes | None]]] = field(default_factory=dict)
    cond: threading.Condition = field(default_factory=threading.Condition)
    consumers: list[FakeConsumer] = field(default_factory=list)

    def create(self, topic: str, partitions: int = 1) -> None:
        self.logs[topic] = [[] for _ in range(partitions)]

    def append(self, topic: str, partition: int, value: bytes | None) -> int:
        with self.cond:
            log = self.logs[topic][partition]
            log.append(value)
            self.cond.notify_all()
            return len(log) - 1

    def append_json(self, topic: str, partition: int, obj: Any) -> int:
        return self.append(topic, partition, orjson.dumps(obj))


class FakeConsumer:
    def __init__(self, broker: FakeBroker, conf: dict[str, Any]) -> None:
        self.broker = broker
        self.conf = conf
        self.assigned: dict[tuple[str, int], int] = {}
        self.closed = False
        broker.consumers.append(self)

    def list_topics(self, topic: str, timeout: float) -> _Metadata:
        parts = self.broker.logs.get(topic)
        return _Metadata({topic: _Meta({p: None for p in range(len(parts))})} if parts is not None else {})

    def get_watermark_offsets(self, tp: Any, timeout: float, cached: bool) -> tuple[int, int]:
        return 0, len(self.broker.logs[tp.topic][tp.partition])

    def offsets_for_times(self, tps: list[Any], timeout: float) -> list[Any]:
        return [_reader.TopicPartition(tp.topic, tp.partition, -1) for tp in tps]

    def assign(self, tps: list[Any]) -> None:
        self.assigned = {(tp.topic, tp.partition): tp.offset for tp in tps}

    def consume(self, num_messages: int, timeout: float) -> list[FakeMessage]:
        deadline = time.monotonic() + timeout
        with self.broker.cond:
            while True:
                out: list[FakeMessage] = []
                for (topic, p), offset in self.assigned.items():
                    log = self.broker.logs[topic][p]
                    while offset < len(log) and len(out) < num_messages:
                        out.append(FakeMessage(topic, log[offset], partition=p, offset=offset))
                        offset += 1
                    self.assigned[(topic, p)] = offset
                if out or time.monotonic() >= deadline:
                    return out
                self.broker.cond.wait(max(0.0, deadline - time.monotonic()))

    def close(self) -> None:
        self.closed = True


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    fake = FakeBroker()
    fake.create(TOPIC, 2)
    monkeypatch.setattr(_reader, "Consumer", lambda conf: FakeConsumer(fake, conf))
    return fake


@pytest.fixture
def sse_token(monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("SSE_UNIT_TOKEN", TOKEN)
    return TOKEN


@dataclass
class Served:
    url: str
    runner: web.AppRunner


Serve = Callable[..., Awaitable[Served]]


@pytest.fixture
async def serve(sse_token: str) -> AsyncIterator[Serve]:
    """serve(**config overrides) -> URL of GET /sse/stream on 127.0.0.1 (mounted as the worker mounts it) and
    its runner.
    The listening socket has a small send buffer (inherited by accepted sockets), so a client that stops
    reading blocks the server after a little data."""
    runners: list[web.AppRunner] = []

    async def start(**overrides: Any) -> Served:
        fields: dict[str, Any] = {"token": "env:SSE_UNIT_TOKEN", "poll_timeout_seconds": 0.05, **overrides}
        config = SseConfig(**fields)
        app = create_sse_app(config, KafkaSettings(bootstrap="fake:9092"), TopicNames(""))
        root = web.Application()
        root.add_subapp("/sse/", app)
        secure_app(root, Authenticator(AuthConfig(), extra_tokens=sse_credentials(config)), process="sse",
                   host="127.0.0.1")  # the worker's guard, as `pipeline worker` serves it
        runner = web.AppRunner(root, access_log=None, shutdown_timeout=5)
        await runner.setup()
        runners.append(runner)
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 8192)
        sock.bind(("127.0.0.1", 0))
        site = web.SockSite(runner, sock)
        await site.start()
        return Served(f"http://127.0.0.1:{sock.getsockname()[1]}/sse/stream", runner)

    yield start
    for runner in runners:
        await runner.cleanup()


def notification(
    seq: int,
    *,
    receiver: str = "ops",
    severity: str = "warning",
    corp: str = "wwcorp",
    alertname: str = "FailedLogins",
    user: str = "alice@example.com",
) -> dict[str, Any]:
    labels = {"alertname": alertname, "severity": severity, "corp": corp, "user": user}
    return {
        "schema": "exmail.notification/1",
        "id": f"{seq:032x}",
        "corp_id": corp,
        "source": "test",
        "observed_at": "2026-05-01T00:00:00.000Z",
        "occurred_at": "2026-05-01T00:00:00.000Z",
        "data": {
            "receiver": receiver,
            "status": "firing",
            "group_key": f"{{}}:{alertname}",
            "group_labels": {"alertname": alertname},
            "common_labels": labels,
            "seq": seq,
            "alerts": [{"labels": labels, "annotations": {}, "status": "firing"}],
        },
    }


@pytest.fixture
def make_notification() -> Callable[..., dict[str, Any]]:
    return notification
