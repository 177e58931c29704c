"""Retries: what is retried, full-jitter backoff inside the attempt and time budget, what is never retried,
and the per-attempt metrics. Time is a fake clock; sleeps are recorded, never waited."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from prometheus_client import generate_latest

from pipeline import metrics
from pipeline.exmail import (
    ExmailClient,
    NotFound,
    PermissionDenied,
    RateLimited,
    ResponseFormatError,
    RetrySettings,
    ServerBusy,
    TransportError,
    ValidationError,
)
from pipeline.exmail._retry import Backoff

CORP = "wm0123456789abcdef"
BUSY = {"errcode": -1, "errmsg": "system busy"}
LIMITED = {"errcode": 45009, "errmsg": "api freq out of limit"}


def _sample(name: str, **labels: str) -> float:
    return metrics.REGISTRY.get_sample_value(name, {"corp": CORP, **labels}) or 0.0


async def test_server_busy_minus_1_is_retried_with_backoff_then_succeeds(
    client: ExmailClient, fake: Any, clock: Any,
) -> None:
    fake.on("tag/list", BUSY, BUSY)
    assert await client.tag_list() == []
    assert len(fake.calls("tag/list")) == 3
    assert len(clock.sleeps) == 2


async def test_rate_limited_45009_is_retried_with_backoff_then_succeeds(
    client: ExmailClient, fake: Any, clock: Any,
) -> None:
    fake.on("tag/list", LIMITED)
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 2 and len(clock.sleeps) == 1


async def test_http_429_is_retried_as_rate_limited(client: ExmailClient, fake: Any) -> None:
    fake.on("tag/list", 429)
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 2


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_http_5xx_is_retried_then_succeeds(client: ExmailClient, fake: Any, status: int) -> None:
    fake.on("tag/list", status)
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 2


@pytest.mark.parametrize("exc_type", [httpx.ReadTimeout, httpx.ConnectTimeout, httpx.WriteTimeout, httpx.PoolTimeout])
async def test_timeouts_are_retried_then_succeed(
    client: ExmailClient, fake: Any, exc_type: type[Exception],
) -> None:
    fake.on("tag/list", exc_type("timed out"))
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 2


@pytest.mark.parametrize("exc_type", [httpx.ConnectError, httpx.ReadError, httpx.RemoteProtocolError])
async def test_connection_errors_are_retried_then_succeed(
    client: ExmailClient, fake: Any, exc_type: type[Exception],
) -> None:
    fake.on("tag/list", exc_type("connection reset"))
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 2


async def test_retry_stops_after_max_attempts_and_raises_the_last_error(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=4, max_total_seconds=1000))
    fake.always_answer("tag/list", BUSY)
    with pytest.raises(ServerBusy):
        await client.tag_list()
    assert len(fake.calls("tag/list")) == 4
    assert len(clock.sleeps) == 3


async def test_retry_stops_when_the_next_wait_would_exceed_max_total_seconds(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=100, max_total_seconds=10, base_delay_seconds=4,
                                             max_delay_seconds=4))  # fmt: skip
    fake.always_answer("tag/list", 503)
    with pytest.raises(TransportError) as info:
        await client.tag_list()
    assert info.value.status_code == 503
    assert sum(clock.sleeps) <= 10
    assert len(fake.calls("tag/list")) == len(clock.sleeps) + 1


async def test_slow_attempts_count_against_the_total_time_budget(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=100, max_total_seconds=30, base_delay_seconds=1,
                                             max_delay_seconds=1))  # fmt: skip

    def slow_timeout(request: httpx.Request) -> httpx.Response:
        clock.advance(10)
        raise httpx.ReadTimeout("timed out")

    fake.always_answer("tag/list", slow_timeout)
    with pytest.raises(TransportError, match="timeout"):
        await client.tag_list()
    assert len(fake.calls("tag/list")) == 3


async def test_backoff_sleeps_are_full_jitter_under_exponential_caps(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=6, max_total_seconds=1000, base_delay_seconds=1,
                                             max_delay_seconds=5))  # fmt: skip
    fake.always_answer("tag/list", BUSY)
    with pytest.raises(ServerBusy):
        await client.tag_list()
    caps = [1, 2, 4, 5, 5]
    assert len(clock.sleeps) == len(caps)
    assert all(0 <= slept <= cap for slept, cap in zip(clock.sleeps, caps, strict=True))


def test_backoff_delays_are_uniform_between_zero_and_the_cap() -> None:
    backoff = Backoff(RetrySettings(base_delay_seconds=1, max_delay_seconds=8), random.Random(1))
    third_retry = [backoff.delay(3) for _ in range(2000)]
    assert min(third_retry) >= 0 and max(third_retry) <= 4
    assert min(third_retry) < 0.5 and max(third_retry) > 3.5
    assert max(backoff.delay(60) for _ in range(200)) <= 8


def test_backoff_budget_refuses_once_attempts_or_time_are_spent() -> None:
    backoff = Backoff(RetrySettings(max_attempts=3, max_total_seconds=5, base_delay_seconds=1,
                                    max_delay_seconds=1), random.Random(1))  # fmt: skip
    assert backoff.next_delay(attempts_made=2, elapsed=0) is not None
    assert backoff.next_delay(attempts_made=3, elapsed=0) is None
    assert backoff.next_delay(attempts_made=1, elapsed=5) is None


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ({"errcode": 60102, "errmsg": "exists"}, ValidationError),
        ({"errcode": 601002, "errmsg": "span"}, ValidationError),
        ({"errcode": 60111, "errmsg": "userid not found"}, NotFound),
        ({"errcode": 602005, "errmsg": "no privilege"}, PermissionDenied),
        ({"errcode": 0, "errmsg": "ok", "taglist": "not a list"}, ResponseFormatError),
        (400, TransportError),
    ],
    ids=["validation_60102", "validation_601002", "not_found_60111", "permission_602005", "bad_shape", "http_400"],
)
async def test_non_transient_errors_are_not_retried(
    client: ExmailClient, fake: Any, clock: Any, answer: Any, error: type[Exception],
) -> None:
    fake.always_answer("tag/list", answer)
    with pytest.raises(error):
        await client.tag_list()
    assert len(fake.calls("tag/list")) == 1
    assert clock.sleeps == []


async def test_token_refresh_retry_does_not_consume_the_backoff_budget(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=2, max_total_seconds=1000))
    await client.tag_list()
    fake.on("tag/list", {"errcode": 40014, "errmsg": "invalid access_token"}, BUSY)
    await client.tag_list()
    assert len(fake.calls("tag/list")) == 4


async def test_rate_limited_beyond_the_budget_raises_rate_limited(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(retry=RetrySettings(max_attempts=2))
    fake.always_answer("tag/list", LIMITED)
    with pytest.raises(RateLimited) as info:
        await client.tag_list()
    assert info.value.errcode == 45009


async def test_metrics_count_every_attempt_its_outcome_errcode_and_retry_reason(
    client: ExmailClient, fake: Any,
) -> None:
    await client.tag_list()
    labels = {"app": "contact", "endpoint": "tag/list"}
    before = {
        "ok": _sample("exmail_api_requests_total", **labels, outcome="ok"),
        "api": _sample("exmail_api_requests_total", **labels, outcome="api_error"),
        "transport": _sample("exmail_api_requests_total", **labels, outcome="transport_error"),
        "busy": _sample("exmail_api_errors_total", endpoint="tag/list", errcode="-1"),
        "http": _sample("exmail_api_errors_total", endpoint="tag/list", errcode="http_503"),
        "retry_busy": _sample("exmail_api_retries_total", endpoint="tag/list", reason="errcode_-1"),
        "retry_http": _sample("exmail_api_retries_total", endpoint="tag/list", reason="http_503"),
        "latency": _sample("exmail_api_request_seconds_count", endpoint="tag/list"),
    }
    fake.on("tag/list", BUSY, 503)
    await client.tag_list()
    after = {
        "ok": _sample("exmail_api_requests_total", **labels, outcome="ok"),
        "api": _sample("exmail_api_requests_total", **labels, outcome="api_error"),
        "transport": _sample("exmail_api_requests_total", **labels, outcome="transport_error"),
        "busy": _sample("exmail_api_errors_total", endpoint="tag/list", errcode="-1"),
        "http": _sample("exmail_api_errors_total", endpoint="tag/list", errcode="http_503"),
        "retry_busy": _sample("exmail_api_retries_total", endpoint="tag/list", reason="errcode_-1"),
        "retry_http": _sample("exmail_api_retries_total", endpoint="tag/list", reason="http_503"),
        "latency": _sample("exmail_api_request_seconds_count", endpoint="tag/list"),
    }
    assert {k: after[k] - before[k] for k in before} == {
        "ok": 1, "api": 1, "transport": 1, "busy": 1, "http": 1, "retry_busy": 1, "retry_http": 1, "latency": 3,
    }  # fmt: skip


async def test_metric_labels_never_carry_userids(client: ExmailClient, fake: Any) -> None:
    fake.on("user/get", {"errcode": 60111, "errmsg": "userid not found"})
    with pytest.raises(NotFound):
        await client.user_get("secret.person@example.com")
    assert b"secret.person" not in generate_latest(metrics.REGISTRY)
