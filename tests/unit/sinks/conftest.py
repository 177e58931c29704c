"""Fixtures for the sink unit tests: normalized exmail.event envelopes (audit store, SIEM sinks), notifications and
an in-process HTTP transport recording requests (receiver sinks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest

from pipeline.envelope import Envelope, fingerprint
from pipeline.sinks.delivery.notification import AlertItem, Notification, SsoLink

EventFactory = Callable[..., Envelope]


def build_event(
    i: int = 0, *, corp: str = "corp1", dataset: str = "exmail.login_log", action: str | None = "login",
    user: str | None = "alice@example.com", user_name: str | None = None, ip: str | None = "10.0.0.1",
    outcome: str | None = "success", occurred: str = "2026-11-05T10:00:00.000Z", schema: str = "exmail.event/1",
    extra: dict[str, Any] | None = None,
) -> Envelope:
    event: dict[str, Any] = {"kind": "event", "dataset": dataset, "category": ["authentication"], "type": ["start"]}
    if action is not None:
        event["action"] = action
    if outcome is not None:
        event["outcome"] = outcome
    data: dict[str, Any] = {"@timestamp": occurred, "event": event, "ocsf": {"class_uid": 3002, "activity_id": 1}}
    if user is not None or user_name is not None:
        data["user"] = {k: v for k, v in (("email", user), ("name", user_name)) if v is not None}
    if ip is not None:
        data["source"] = {"ip": ip}
    data.update(extra or {})
    return Envelope(schema=schema, id=fingerprint("test-event", corp, i, occurred, dataset), corp_id=corp,
                    source="normalize", occurred_at=occurred, observed_at="2026-11-05T10:00:05.000Z", data=data)


@pytest.fixture
def audit_event() -> EventFactory:
    return build_event


def make_notification(n_alerts: int = 2, key: str = "nk-1", **overrides: object) -> Notification:
    alerts = tuple(
        AlertItem(labels={"alertname": "ManyFailedSends", "userid": f"user{i}@corp.example"},
                  annotations={"description": f"用户 user{i} 10 分钟内发信失败 {10 + i} 次"},
                  severity="critical" if i == 0 else "warning", summary=f"user{i} 发信失败过多",
                  starts_at="2026-11-29T10:00:00.000Z")
        for i in range(n_alerts))
    fields: dict[str, object] = {
        "receiver": "ops", "group_key": "{}:{alertname=\"ManyFailedSends\"}", "idempotency_key": key,
        "alerts": alerts, "corp_id": "corp1", "recipients": ("user0@corp.example",),
        "sso_links": (SsoLink("登录邮箱", "https://sso.example/r?t=abc"),),
    }
    fields.update(overrides)
    return Notification(**fields)  # type: ignore[arg-type]


NotificationFactory = Callable[..., Notification]


@pytest.fixture
def make() -> NotificationFactory:
    """Factory: make(n_alerts=2, key="nk-1", **field_overrides) -> Notification."""
    return make_notification


class Capture:
    """A MockTransport handler recording requests and answering from a function."""

    def __init__(self, answer: Callable[[httpx.Request], dict[str, Any]] | None = None) -> None:
        self.requests: list[httpx.Request] = []
        self.answer = answer or (lambda r: {"errcode": 0, "errmsg": "ok"})

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return httpx.Response(200, json=self.answer(request))

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    def bodies(self) -> list[Any]:
        return [orjson.loads(r.content) for r in self.requests if r.content]


@pytest.fixture
def capture() -> type[Capture]:
    """capture(answer=None) -> a recording transport handler; `.client()` is an httpx client over it."""
    return Capture
