"""pipeline/worker/alerting.py: the rules agent waits out a rule state it cannot write instead of
dead-lettering the event."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.transforms.rules import RuleStateUnavailable
from pipeline.worker import alerting


class FlakyEngine:
    """Fails like a table whose changelog topic is not there yet, `failures` times, then evaluates."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.calls = 0

    def evaluate(self, env: Any, now: float) -> list[str]:
        self.calls += 1
        if self.calls <= self.failures:
            raise RuleStateUnavailable("writing rule state failed: UNKNOWN_TOPIC_OR_PART")
        return ["alert"]


def test_state_unavailable_is_retried_until_the_event_evaluates(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    delays: list[float] = []
    monkeypatch.setattr(alerting, "equal_jitter", lambda retry, initial, cap: delays.append(retry) or 0.0)
    engine = FlakyEngine(failures=3)
    msg = SimpleNamespace(topic="p.exmail.events", partition=1, offset=42)
    out = asyncio.run(alerting._evaluate(engine, SimpleNamespace(), msg))  # type: ignore[arg-type]
    assert out == ["alert"] and engine.calls == 4
    assert delays == [1, 2, 3]  # growing backoff, one step per failed attempt
    assert "state unavailable at p.exmail.events[1]@42" in caplog.text


def test_alert_key_without_routing_is_the_fingerprint() -> None:
    ctx: Any = SimpleNamespace(config=SimpleNamespace(alerting=SimpleNamespace(routing=None)))
    alert = SimpleNamespace(kafka_key=lambda: b"fp")
    assert alerting.alert_key_for(ctx)(alert) == b"fp"
    with pytest.raises(SystemExit, match=r"alerting\.routing is required"):
        alerting.routing_of(ctx)
