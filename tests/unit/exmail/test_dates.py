"""Log queries: long ranges split into API-sized chunks (results concatenated in date order) and per-date helpers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

import httpx
import orjson
import pytest
from pydantic import ValidationError as ConfigError

from pipeline.exmail import ExmailClient, ExmailSettings, LogDay, OperationCategory
from pipeline.exmail._dates import split_span


def _echo_dates(list_key: str = "list") -> Callable[[httpx.Request], httpx.Response]:
    """Answer each log call with one record whose `operand`/`subject` names the requested window."""

    def answer(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        window = f"{body['begin_date']}..{body['end_date']}"
        record = {"time": 1, "operator": "admin@example.com", "type": 1, "operand": window, "status": 0,
                  "mailtype": 1, "subject": window, "ip": window}  # fmt: skip
        return httpx.Response(200, content=orjson.dumps({"errcode": 0, "errmsg": "ok", list_key: [record]}))

    return answer


def _windows(fake: Any, path: str) -> list[tuple[str, str]]:
    return [(b["begin_date"], b["end_date"]) for b in (orjson.loads(r.content) for r in fake.calls(path))]


def test_split_span_makes_inclusive_chunks_of_at_most_the_limit_in_order() -> None:
    chunks = split_span(date(2024, 1, 1), date(2024, 3, 31), 30)
    assert chunks == [
        (date(2024, 1, 1), date(2024, 1, 30)),
        (date(2024, 1, 31), date(2024, 2, 29)),
        (date(2024, 3, 1), date(2024, 3, 30)),
        (date(2024, 3, 31), date(2024, 3, 31)),
    ]


def test_split_span_of_one_day_and_of_an_exact_multiple() -> None:
    assert split_span(date(2024, 5, 1), date(2024, 5, 1), 30) == [(date(2024, 5, 1), date(2024, 5, 1))]
    assert split_span(date(2024, 1, 1), date(2024, 2, 29), 30) == [
        (date(2024, 1, 1), date(2024, 1, 30)),
        (date(2024, 1, 31), date(2024, 2, 29)),
    ]


async def test_log_mail_longer_than_the_span_limit_is_split_and_concatenated_in_order(
    client: ExmailClient, fake: Any,
) -> None:
    fake.always_answer("log/mail", _echo_dates())
    records = await client.log_mail("2024-01-01", "2024-03-31")
    expected = [("2024-01-01", "2024-01-30"), ("2024-01-31", "2024-02-29"), ("2024-03-01", "2024-03-30"),
                ("2024-03-31", "2024-03-31")]  # fmt: skip
    assert _windows(fake, "log/mail") == expected
    assert [r.subject for r in records] == [f"{a}..{b}" for a, b in expected]


async def test_log_within_the_span_limit_is_one_call(client: ExmailClient, fake: Any) -> None:
    fake.always_answer("log/login", _echo_dates())
    await client.log_login("a@example.com", "2024-05-01", "2024-05-30")
    assert _windows(fake, "log/login") == [("2024-05-01", "2024-05-30")]


async def test_span_limit_is_configurable(make_client: Callable[..., ExmailClient], fake: Any) -> None:
    client = make_client(log_span_days=7)
    fake.always_answer("log/batchjob", _echo_dates())
    records = await client.log_batchjob("2024-05-01", "2024-05-15")
    assert _windows(fake, "log/batchjob") == [("2024-05-01", "2024-05-07"), ("2024-05-08", "2024-05-14"),
                                              ("2024-05-15", "2024-05-15")]  # fmt: skip
    assert len(records) == 3


async def test_log_operation_chunks_keep_the_category_filter(
    make_client: Callable[..., ExmailClient], fake: Any,
) -> None:
    client = make_client(log_span_days=10)
    fake.always_answer("log/operation", _echo_dates())
    records = await client.log_operation("2024-05-01", "2024-05-20", category=OperationCategory.MAIL_BACKUP)
    bodies = [orjson.loads(r.content) for r in fake.calls("log/operation")]
    assert [b["type"] for b in bodies] == [9, 9]
    assert [r.operand for r in records] == ["2024-05-01..2024-05-10", "2024-05-11..2024-05-20"]


async def test_log_mailstatus_chunks_are_summed(make_client: Callable[..., ExmailClient], fake: Any) -> None:
    client = make_client(log_span_days=30)
    fake.on("log/mailstatus", {"errcode": 0, "sendsum": 1, "recvsum": 10}, {"errcode": 0, "sendsum": 2, "recvsum": 20},
            {"errcode": 0, "sendsum": 4, "recvsum": 40})  # fmt: skip
    summary = await client.log_mailstatus("example.com", date(2024, 1, 1), date(2024, 3, 1))
    assert len(fake.calls("log/mailstatus")) == 3
    assert (summary.sendsum, summary.recvsum) == (7, 70)


async def test_chunk_failure_raises_and_returns_no_partial_result(client: ExmailClient, fake: Any) -> None:
    fake.on("log/mail", _echo_dates(), {"errcode": 601001, "errmsg": "invalid time"})
    with pytest.raises(Exception, match="601001"):
        await client.log_mail("2024-01-01", "2024-03-31")


async def test_mail_log_days_yields_one_result_per_date_in_order(client: ExmailClient, fake: Any) -> None:
    fake.always_answer("log/mail", _echo_dates())
    days = [day async for day in client.mail_log_days("2024-02-28", "2024-03-01")]
    assert [d.date for d in days] == [date(2024, 2, 28), date(2024, 2, 29), date(2024, 3, 1)]
    assert _windows(fake, "log/mail") == [("2024-02-28", "2024-02-28"), ("2024-02-29", "2024-02-29"),
                                          ("2024-03-01", "2024-03-01")]  # fmt: skip
    assert [d.result[0].subject for d in days] == ["2024-02-28..2024-02-28", "2024-02-29..2024-02-29",
                                                   "2024-03-01..2024-03-01"]  # fmt: skip
    assert isinstance(days[0], LogDay)


async def test_login_log_days_query_one_user_date_by_date(client: ExmailClient, fake: Any) -> None:
    fake.always_answer("log/login", _echo_dates())
    days = [day async for day in client.login_log_days("a@example.com", "2024-05-01", "2024-05-02")]
    assert len(days) == 2
    assert {orjson.loads(r.content)["userid"] for r in fake.calls("log/login")} == {"a@example.com"}


async def test_operation_and_batchjob_log_days_query_date_by_date(client: ExmailClient, fake: Any) -> None:
    fake.always_answer("log/operation", _echo_dates())
    fake.always_answer("log/batchjob", _echo_dates())
    ops = [d async for d in client.operation_log_days("2024-05-01", "2024-05-03")]
    jobs = [d async for d in client.batchjob_log_days("2024-05-01", "2024-05-03")]
    assert len(ops) == len(jobs) == 3
    assert _windows(fake, "log/operation") == _windows(fake, "log/batchjob")


async def test_mailstatus_days_yield_one_summary_per_date(client: ExmailClient, fake: Any) -> None:
    fake.on("log/mailstatus", {"errcode": 0, "sendsum": 1, "recvsum": 2}, {"errcode": 0, "sendsum": 3, "recvsum": 4})
    days = [d async for d in client.mailstatus_days("example.com", "2024-05-01", "2024-05-02")]
    assert [(d.date.isoformat(), d.result.sendsum, d.result.recvsum) for d in days] == [
        ("2024-05-01", 1, 2), ("2024-05-02", 3, 4)]  # fmt: skip


def test_span_limit_setting_must_stay_within_the_api_limit(
    settings_factory: Callable[..., ExmailSettings],
) -> None:
    with pytest.raises(ConfigError, match="log_span_days"):
        settings_factory(log_span_days=120)
    with pytest.raises(ConfigError, match="log_span_days"):
        settings_factory(log_span_days=0)
