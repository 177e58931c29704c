"""Client-side pacing on a fake clock: token buckets per corp and per app, and the per-user concurrency cap.
The bucket itself is tested in tests/unit/test_ratelimit.py."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest

from pipeline import metrics
from pipeline.exmail import ExmailClient, RateLimit
from pipeline.exmail._ratelimit import ConcurrencyLimit

CORP = "wm0123456789abcdef"


def _wait_sum(bucket: str) -> float:
    return metrics.REGISTRY.get_sample_value("exmail_rate_limit_wait_seconds_sum",
                                             {"corp": CORP, "bucket": bucket}) or 0.0  # fmt: skip


def _wait_count(bucket: str) -> float:
    return metrics.REGISTRY.get_sample_value("exmail_rate_limit_wait_seconds_count",
                                             {"corp": CORP, "bucket": bucket}) or 0.0  # fmt: skip


async def test_concurrency_limit_never_admits_more_than_its_limit(clock: Any) -> None:
    limit = ConcurrencyLimit(2, clock=clock)
    peak = 0

    async def worker() -> None:
        nonlocal peak
        async with limit.slot(lambda waited: None):
            peak = max(peak, limit.in_use)
            await asyncio.sleep(0)

    await asyncio.gather(*(worker() for _ in range(10)))
    assert peak == 2 and limit.in_use == 0


async def test_corp_bucket_paces_calls_and_records_the_wait(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(corp_rate_limit=RateLimit(rate=2, burst=2))
    before_sum, before_count = _wait_sum("corp"), _wait_count("corp")
    for _ in range(5):
        await client.tag_list()
    assert clock.sleeps == [0.5, 0.5, 0.5, 0.5]
    assert len(fake.requests) == 6
    assert _wait_sum("corp") - before_sum == pytest.approx(2.0)
    assert _wait_count("corp") - before_count == 6


async def test_app_buckets_are_separate_per_app(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(app_rate_limits={"contact": RateLimit(rate=1, burst=2)})
    await client.tag_list()
    await client.tag_list()
    assert clock.sleeps == [1.0]
    await client.log_batchjob("2024-05-01", "2024-05-01")
    await client.log_batchjob("2024-05-01", "2024-05-01")
    assert clock.sleeps == [1.0]


async def test_app_bucket_wait_is_recorded_under_the_app_name(
    make_client: Callable[..., ExmailClient], fake: Any, clock: Any,
) -> None:
    client = make_client(app_rate_limit=RateLimit(rate=4, burst=1))
    before = _wait_sum("app:system_log")
    await client.log_batchjob("2024-05-01", "2024-05-01")
    await client.log_batchjob("2024-05-01", "2024-05-01")
    assert _wait_sum("app:system_log") - before == pytest.approx(0.5)


@pytest.mark.parametrize("endpoint", ["log/login", "mail/newcount", "useroption/get"])
async def test_per_user_endpoints_share_the_concurrency_cap(
    make_client: Callable[..., ExmailClient], fake: Any, endpoint: str,
) -> None:
    client = make_client(per_user_concurrency=3)
    calls = {
        "log/login": lambda u: client.log_login(u, "2024-05-01", "2024-05-01"),
        "mail/newcount": lambda u: client.mail_newcount(u),
        "useroption/get": lambda u: client.useroption_get(u),
    }[endpoint]
    await calls("warm.up@example.com")
    fake.requests.clear()
    fake.yields_per_call = 5
    await asyncio.gather(*(calls(f"user{i}@example.com") for i in range(40)))
    assert len(fake.calls(endpoint)) == 40
    assert fake.max_in_flight == 3


async def test_directory_endpoints_are_not_held_to_the_per_user_cap(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(per_user_concurrency=1)
    await client.tag_list()
    fake.yields_per_call = 5
    await asyncio.gather(*(client.user_delete(f"u{i}@example.com") for i in range(10)))
    assert fake.max_in_flight > 1


async def test_per_user_slot_wait_is_recorded(make_client: Callable[..., ExmailClient], fake: Any) -> None:
    client = make_client(per_user_concurrency=2)
    before = _wait_count("per_user")
    await asyncio.gather(*(client.mail_newcount(f"u{i}@example.com") for i in range(5)))
    assert _wait_count("per_user") - before == 5
