"""Notifications for the delivery unit tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from pipeline.sinks.delivery.notification import AlertItem, Notification, SsoLink


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
