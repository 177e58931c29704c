"""pipeline/worker/alerting.py: the rules agent waits out a rule state it cannot write (and a changelog not yet
grown to the event's partition) instead of dead-lettering the event."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest

from pipeline.transforms.rules import RuleStateUnavailable
from pipeline.worker import alerting
from pipeline.worker.app import ChangelogNotReady


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


class Changelog:
    """CoPartitionedChangelog's `ready`: not ready `failures` times (a growth that has not gone through)."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.asked: list[int] = []

    async def ready(self, partition: int) -> None:
        self.asked.append(partition)
        if len(self.asked) <= self.failures:
            raise ChangelogNotReady(f"the producer's metadata does not list partition {partition} yet")


def test_state_unavailable_is_retried_until_the_event_evaluates(monkeypatch: pytest.MonkeyPatch,
                                                                 caplog: pytest.LogCaptureFixture) -> None:
    delays: list[float] = []
    monkeypatch.setattr(alerting, "equal_jitter", lambda retry, initial, cap: delays.append(retry) or 0.0)
    engine = FlakyEngine(failures=3)
    msg = SimpleNamespace(topic="p.exmail.events", partition=1, offset=42)
    changelog = Changelog()
    out = asyncio.run(alerting._evaluate(engine, changelog, SimpleNamespace(), msg))  # type: ignore[arg-type]
    assert out == ["alert"] and engine.calls == 4
    assert delays == [1, 2, 3]  # growing backoff, one step per failed attempt
    assert "state unavailable at p.exmail.events[1]@42" in caplog.text
    assert changelog.asked == [1, 1, 1, 1]  # the event's partition, before every attempt


def test_a_changelog_not_grown_yet_holds_the_event_back_before_any_state_is_written(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setattr(alerting, "equal_jitter", lambda retry, initial, cap: 0.0)
    engine = FlakyEngine(failures=0)
    changelog = Changelog(failures=2)
    msg = SimpleNamespace(topic="p.exmail.events", partition=4, offset=7)
    out = asyncio.run(alerting._evaluate(engine, changelog, SimpleNamespace(), msg))  # type: ignore[arg-type]
    assert out == ["alert"]
    assert engine.calls == 1  # evaluated (state written) once, after the changelog had partition 4
    assert changelog.asked == [4, 4, 4]
    assert "does not list partition 4 yet" in caplog.text


def test_alert_key_without_routing_is_the_fingerprint() -> None:
    ctx: Any = SimpleNamespace(config=SimpleNamespace(alerting=SimpleNamespace(routing=None)))
    alert = SimpleNamespace(kafka_key=lambda: b"fp")
    assert alerting.alert_key_for(ctx)(alert) == b"fp"
    with pytest.raises(SystemExit, match=r"alerting\.routing is required"):
        alerting.routing_of(ctx)
