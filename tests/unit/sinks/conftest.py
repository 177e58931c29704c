"""Fixtures for the audit-store and SIEM sink unit tests: a builder of normalized exmail.event envelopes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope, fingerprint

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
