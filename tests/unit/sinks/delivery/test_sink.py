"""The shared send loop: retries, token refresh, dead letters, outcomes and metrics (scripted attempts)."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence

import pytest

from pipeline.clock import ManualClock
from pipeline.metrics import REGISTRY
from pipeline.sinks.delivery.errors import AttemptResult, ErrorClass
from pipeline.sinks.delivery.notification import Notification
from pipeline.sinks.delivery.retry import RetryPolicy
from pipeline.sinks.delivery.sink import DeliverySink, EncodeError

OK = AttemptResult(ErrorClass.OK, "ok", errcode=0, http_status=200)
BUSY = AttemptResult(ErrorClass.TRANSIENT, "errcode_-1", errcode=-1)
FREQ = AttemptResult(ErrorClass.TRANSIENT, "errcode_45009", errcode=45009, rate_limited=True)
EXPIRED = AttemptResult(ErrorClass.TOKEN_REFRESH, "errcode_42001", errcode=42001)
GONE = AttemptResult(ErrorClass.PERMANENT, "errcode_93000", errcode=93000, detail="robot gone; key=SECRETKEY")


class ScriptedSink(DeliverySink[str]):
    kind = "scripted"
    uses_token = True

    def __init__(self, script: Sequence[AttemptResult], parts: int = 1, clock: ManualClock | None = None,
                 max_attempts: int = 6) -> None:
        super().__init__(name="scripted", policy=RetryPolicy(max_attempts=max_attempts, rng=random.Random(5)),
                         clock=clock or ManualClock(), secrets=("SECRETKEY",))
        self.script = list(script)
        self.parts = parts
        self.sent: list[str] = []
        self.refreshes = 0

    def encode(self, notification: Notification) -> list[str]:
        if notification.title == "unencodable":
            raise EncodeError("cannot encode: no recipients")
        return [f"part{i}" for i in range(1, self.parts + 1)]

    async def acquire(self, part: str) -> float:
        return 0.0

    async def attempt(self, part: str) -> AttemptResult:
        self.sent.append(part)
        return self.script.pop(0) if self.script else OK

    async def refresh_token(self) -> None:
        self.refreshes += 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_transient_errors_are_retried_until_delivered(make: Callable[..., Notification]) -> None:
    clock = ManualClock()
    sink = ScriptedSink([BUSY, FREQ, OK], clock=clock)
    before = sample("exmail_delivery_retries_total", receiver="scripted", reason="errcode_45009")
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered" and outcome.attempts == 3 and not outcome.operator_alert
    assert len(clock.slept) == 2 and clock.slept[1] >= 3.0  # rate-limit floor after 45009
    assert sample("exmail_delivery_retries_total", receiver="scripted", reason="errcode_45009") == before + 1
    await sink.aclose()


async def test_permanent_error_dead_letters_with_operator_alert(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([GONE])
    before = sample("exmail_delivery_failures_total", receiver="scripted", kind="scripted",
                    outcome="dead_lettered", reason="errcode_93000")
    outcome = await sink.deliver(make())
    assert (outcome.status, outcome.errcode, outcome.reason, outcome.attempts) == (
        "dead_lettered", 93000, "errcode_93000", 1)
    assert outcome.operator_alert
    assert "SECRETKEY" not in (outcome.detail or "") and "robot gone" in (outcome.detail or "")
    assert sample("exmail_delivery_failures_total", receiver="scripted", kind="scripted",
                  outcome="dead_lettered", reason="errcode_93000") == before + 1
    # the call the delivery agent makes (pipeline/worker/delivery.py): the sink supplies its live secrets
    dlq = sink.dead_letter(outcome, make())
    assert dlq.schema == "exmail.dlq/1" and dlq.data["error_type"] == "permanent"
    assert "SECRETKEY" not in dlq.encode().decode() and "robot gone" in dlq.data["reason"]


async def test_dead_letter_masks_a_live_secret_that_matches_no_pattern(make: Callable[..., Notification]) -> None:
    """A credential echoed in free text (no key=, no path shape) is masked only because the sink knows it:
    this fails if the production path stops passing the sink's secrets."""
    echo = AttemptResult(ErrorClass.PERMANENT, "http_400", http_status=400, detail="rejected SECRETKEY verbatim")
    sink = ScriptedSink([echo])
    outcome = await sink.deliver(make())
    text = sink.dead_letter(outcome, make(), source=b'{"schema": "exmail.notification/1", "x": "SECRETKEY"}')
    assert "SECRETKEY" not in text.encode().decode()
    assert text.data["payload"] == {"schema": "exmail.notification/1", "x": "***"}
    await sink.aclose()
    await sink.aclose()


async def test_exhausted_retries_fail_with_operator_alert(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([BUSY] * 10, max_attempts=4)
    outcome = await sink.deliver(make())
    assert (outcome.status, outcome.attempts, outcome.reason) == ("failed", 4, "errcode_-1")
    assert outcome.operator_alert
    await sink.aclose()


async def test_token_errors_refresh_then_deliver(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([EXPIRED, OK])
    outcome = await sink.deliver(make())
    assert (outcome.status, outcome.token_refreshes, sink.refreshes, outcome.attempts) == ("delivered", 1, 1, 2)
    await sink.aclose()


async def test_token_refresh_is_bounded(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([EXPIRED] * 5)
    outcome = await sink.deliver(make())
    assert outcome.status == "dead_lettered" and outcome.token_refreshes == 2 and outcome.errcode == 42001
    await sink.aclose()


async def test_parts_are_sent_in_order_and_only_failed_parts_retried(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([OK, BUSY, OK, OK], parts=3)
    outcome = await sink.deliver(make())
    assert sink.sent == ["part1", "part2", "part2", "part3"]
    assert (outcome.parts, outcome.parts_delivered, outcome.attempts) == (3, 3, 4)
    await sink.aclose()


async def test_partial_delivery_is_reported(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([OK, GONE], parts=3)
    outcome = await sink.deliver(make())
    assert (outcome.status, outcome.parts, outcome.parts_delivered) == ("dead_lettered", 3, 1)
    await sink.aclose()


async def test_unencodable_notification_is_dead_lettered_not_raised(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([])
    outcome = await sink.deliver(make(title="unencodable"))
    assert (outcome.status, outcome.reason, outcome.attempts) == ("dead_lettered", "encode_error", 0)
    assert "no recipients" in (outcome.detail or "")
    await sink.aclose()


async def test_unexpected_bug_is_reported_as_failed(make: Callable[..., Notification],
                                                    caplog: pytest.LogCaptureFixture) -> None:
    class Buggy(ScriptedSink):
        async def attempt(self, part: str) -> AttemptResult:
            raise KeyError("boom near SECRETKEY")

    sink = Buggy([])
    outcome = await sink.deliver(make())
    assert (outcome.status, outcome.reason, outcome.detail) == ("failed", "internal_error", "KeyError")
    assert "Traceback" in caplog.text and "boom near ***" in caplog.text and "SECRETKEY" not in caplog.text
    await sink.aclose()


async def test_outcome_record_and_envelope(make: Callable[..., Notification]) -> None:
    clock = ManualClock()
    sink = ScriptedSink([BUSY, OK], clock=clock)
    outcome = await sink.deliver(make())
    env = outcome.to_envelope()
    assert env.schema == "exmail.delivery/1" and env.corp_id == "corp1"
    data = env.data
    assert data["notification_id"] == "nk-1" and data["status"] == "delivered" and data["attempts"] == 2
    assert data["latency_s"] == round(clock.slept[0], 6) > 0
    assert repr(sink) == "ScriptedSink(name='scripted')"
    await sink.aclose()


async def test_resume_at_skips_the_parts_already_accepted(make: Callable[..., Notification]) -> None:
    sink = ScriptedSink([], parts=5)
    recorded: list[tuple[int, int, int]] = []

    async def on_part(done: int, total: int, attempts: int) -> None:
        recorded.append((done, total, attempts))

    outcome = await sink.deliver(make(), resume_at=2, on_part=on_part)
    assert sink.sent == ["part3", "part4", "part5"]
    assert outcome.status == "delivered" and outcome.parts == 5 and outcome.parts_delivered == 5
    assert recorded == [(3, 5, 1), (4, 5, 2), (5, 5, 3)]
    await sink.aclose()


async def test_a_stop_interrupts_between_parts_and_during_a_retry_wait(make: Callable[..., Notification]) -> None:
    stop = asyncio.Event()
    sink = ScriptedSink([], parts=3)

    async def on_part(done: int, total: int, attempts: int) -> None:
        if done == 1:
            stop.set()

    outcome = await sink.deliver(make(), on_part=on_part, stop=stop)
    assert outcome.status == "interrupted" and outcome.parts_delivered == 1 and sink.sent == ["part1"]
    assert not outcome.operator_alert

    class Sleeping(ManualClock):
        async def sleep(self, seconds: float) -> None:
            await asyncio.Event().wait()  # a long backoff: only a stop ends it

    waiting = ScriptedSink([BUSY], clock=Sleeping())
    stop2 = asyncio.Event()
    task = asyncio.create_task(waiting.deliver(make(), stop=stop2))
    await asyncio.sleep(0.01)
    stop2.set()
    outcome = await asyncio.wait_for(task, 5)
    assert outcome.status == "interrupted" and waiting.sent == ["part1"]
    await sink.aclose()
    await waiting.aclose()


async def test_rate_limit_answers_wait_instead_of_spending_the_retry_budget(
        make: Callable[..., Notification]) -> None:
    clock = ManualClock()
    sink = ScriptedSink([FREQ] * 20 + [OK], clock=clock, max_attempts=3)  # 20 x 45009, budget of 3 attempts
    outcome = await sink.deliver(make())
    assert outcome.status == "delivered" and outcome.attempts == 21
    assert all(s >= 3.0 for s in clock.slept)
    await sink.aclose()


async def test_a_destination_that_never_accepts_fails_after_rate_limited_max_elapsed(
        make: Callable[..., Notification]) -> None:
    clock = ManualClock()
    sink = ScriptedSink([FREQ] * 10_000, clock=clock)
    sink.policy = RetryPolicy(rate_limited_max_elapsed=120.0, rng=random.Random(1))
    outcome = await sink.deliver(make())
    assert outcome.status == "failed" and outcome.reason == "errcode_45009"
    assert sum(clock.slept) <= 120.0
    await sink.aclose()
