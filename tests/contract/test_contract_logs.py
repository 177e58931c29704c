"""log/mailstatus, log/mail, log/login, log/batchjob, log/operation (system-log app) through the client
against the simulator's ground truth: exact records and order, filters, per-day iteration, chunking of long
spans (200 days against the 90-day server limit, retention switched off), late records becoming visible, and
date/domain errcodes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, timedelta
from typing import Any

import pytest

from pipeline.exmail import (
    BatchJobType,
    ExmailClient,
    LoginType,
    MailStatus,
    MailType,
    NotFound,
    OperationCategory,
    OperationType,
    ValidationError,
)
from pipeline.exmail.models import (
    BatchJobLogRecord,
    LogDay,
    LoginLogRecord,
    MailLogRecord,
    OperationLogRecord,
)
from pipeline.sim import SimulatorHandle

pytestmark = pytest.mark.integration

ClientFactory = Callable[..., ExmailClient]

DOMAIN = "corp.example.com"
ADMIN = f"admin@{DOMAIN}"
TODAY = "2026-01-05"
YESTERDAY = "2026-01-04"
T0 = 1767578400  # 2026-01-05T10:00:00+08:00, the simulator's frozen clock
DAY = 86400


def noon(day: date) -> int:
    """Unix time of 12:00 (+08:00) on `day`."""
    return T0 + (day - date(2026, 1, 5)).days * DAY + 2 * 3600


async def truth(sim: SimulatorHandle, kind: str, day: str, userid: str | None = None) -> list[dict[str, Any]]:
    return [t["record"] for t in await sim.admin.truth(kind, date=day, visible_only=True, userid=userid)]


async def generate_yesterday(sim: SimulatorHandle) -> None:
    await sim.admin.generate(
        YESTERDAY, mail_records=300, login_records=120, operation_records=80, batchjob_records=20
    )


async def inject_mail(sim: SimulatorHandle, when: int, subject: str, **fields: Any) -> dict[str, Any]:
    record = {
        "mailtype": 1,
        "sender": ADMIN,
        "receiver": "x@partner-logistics.cn",
        "subject": subject,
        "time": when,
        "status": 3,
        **fields,
    }
    await sim.admin.inject_log("mail_log", record, visible_at=fields.pop("visible_at", None))
    return record


# --- log/mail


async def test_log_mail_matches_truth_exactly(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    records = await client.log_mail(YESTERDAY, YESTERDAY)
    expected = await truth(sim, "mail_log", YESTERDAY)
    assert len(expected) >= 300
    assert [r.raw for r in records] == expected
    assert all(isinstance(r, MailLogRecord) and isinstance(r.status, MailStatus) for r in records)
    assert {r.mailtype for r in records} == {MailType.SENT, MailType.RECEIVED}


async def test_log_mail_filters_mailtype_userid_subject(client: ExmailClient, sim: SimulatorHandle) -> None:
    await inject_mail(sim, T0 - 3600, "报价单")
    await inject_mail(
        sim, T0 - 1800, "投诉 订单", mailtype=2, sender="y@qq.com", receiver=f"service@{DOMAIN}", status=13
    )
    await inject_mail(
        sim, T0 - 60, "中奖", mailtype=2, sender="spam@promo-deals.biz", receiver=ADMIN, status=12
    )
    assert [r.subject for r in await client.log_mail(TODAY, TODAY, mailtype=MailType.SENT)] == ["报价单"]
    received = await client.log_mail(TODAY, TODAY, mailtype=MailType.RECEIVED)
    assert [(r.subject, r.status) for r in received] == [
        ("投诉 订单", MailStatus.RECEIVED_INBOX),
        ("中奖", MailStatus.RECEIVED_SPAM),
    ]
    assert {r.subject for r in await client.log_mail(TODAY, TODAY, userid=ADMIN)} == {"报价单", "中奖"}
    assert [r.subject for r in await client.log_mail(TODAY, TODAY, subject="订单")] == ["投诉 订单"]


async def test_log_mail_days_one_answer_per_date(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    await inject_mail(sim, T0 - 60, "today")
    days = [day async for day in client.mail_log_days("2026-01-03", TODAY)]
    assert [d.date for d in days] == [date(2026, 1, 3), date(2026, 1, 4), date(2026, 1, 5)]
    assert all(isinstance(d, LogDay) for d in days)
    for day in days:
        assert [r.raw for r in day.result] == await truth(sim, "mail_log", day.date.isoformat())
    assert sim.sim.api.calls["log/mail"] == 3


async def test_log_mail_late_record_visible_after_clock_passes(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await inject_mail(sim, T0 - 600, "on time")
    await inject_mail(sim, T0 - 300, "late", visible_at=T0 + 1800)
    assert [r.subject for r in await client.log_mail(TODAY, TODAY)] == ["on time"]
    await sim.admin.advance(1800)
    assert [r.subject for r in await client.log_mail(TODAY, TODAY)] == ["on time", "late"]


async def test_log_mail_generated_late_records_appear_later(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    """Records generated with lateness are missing from an early answer and present (in time order) later."""
    await sim.admin.set_clock("2026-01-05T00:30:00")
    await sim.admin.generate(YESTERDAY, mail_records=400, late_fraction=0.5)
    early = await client.log_mail(YESTERDAY, YESTERDAY)
    assert [r.raw for r in early] == await truth(sim, "mail_log", YESTERDAY)
    await sim.admin.advance(6 * 3600)
    later = await client.log_mail(YESTERDAY, YESTERDAY)
    assert [r.raw for r in later] == await truth(sim, "mail_log", YESTERDAY)
    assert len(later) > len(early)
    assert [r.time for r in later] == sorted(r.time for r in later)
    later_raw = [r.raw for r in later]
    assert all(r.raw in later_raw for r in early)


async def test_log_mail_retention_drops_old_records_without_error(
    client: ExmailClient, sim: SimulatorHandle
) -> None:
    await inject_mail(sim, T0 - 10 * DAY, "old")
    await inject_mail(sim, T0 - 60, "new")
    await sim.admin.set_choices(log_retention_days=5)
    assert [r.subject for r in await client.log_mail("2025-12-20", TODAY)] == ["new"]


# --- log/login, log/batchjob, log/operation, log/mailstatus


async def test_log_login_matches_truth_for_user(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    all_logins = await sim.admin.truth("login_log", date=YESTERDAY, visible_only=True)
    userid = max(
        {t["context"]["userid"] for t in all_logins},
        key=lambda u: sum(t["context"]["userid"] == u for t in all_logins),
    )
    records = await client.log_login(userid, YESTERDAY, YESTERDAY)
    assert records and all(isinstance(r, LoginLogRecord) and isinstance(r.type, LoginType) for r in records)
    assert [r.raw for r in records] == await truth(sim, "login_log", YESTERDAY, userid)


async def test_log_login_unknown_user_60111(client: ExmailClient) -> None:
    with pytest.raises(NotFound) as caught:
        await client.log_login(f"ghost@{DOMAIN}", TODAY, TODAY)
    assert caught.value.errcode == 60111


async def test_log_login_days_per_date(client: ExmailClient, sim: SimulatorHandle) -> None:
    await sim.admin.inject_log("login_log", {"time": T0 - DAY, "ip": "10.0.0.1", "type": 4}, userid=ADMIN)
    await sim.admin.inject_log("login_log", {"time": T0 - 60, "ip": "10.0.0.2", "type": 2}, userid=ADMIN)
    days = [d async for d in client.login_log_days(ADMIN, YESTERDAY, TODAY)]
    assert [[(r.ip, r.type) for r in d.result] for d in days] == [
        [("10.0.0.1", LoginType.DESKTOP_CLIENT)],
        [("10.0.0.2", LoginType.MOBILE)],
    ]


async def test_log_batchjob_matches_truth(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    records = await client.log_batchjob(YESTERDAY, YESTERDAY)
    assert len(records) == 20
    assert all(isinstance(r, BatchJobLogRecord) and isinstance(r.type, BatchJobType) for r in records)
    assert [r.raw for r in records] == await truth(sim, "batchjob_log", YESTERDAY)
    days = [d async for d in client.batchjob_log_days(YESTERDAY, YESTERDAY)]
    assert [r.raw for r in days[0].result] == [r.raw for r in records]


async def test_log_operation_all_matches_truth(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    records = await client.log_operation(YESTERDAY, YESTERDAY)
    assert len(records) == 80
    assert all(isinstance(r, OperationLogRecord) and isinstance(r.type, OperationType) for r in records)
    assert [r.raw for r in records] == await truth(sim, "operation_log", YESTERDAY)


@pytest.mark.parametrize(
    ("category", "types"),
    [
        (OperationCategory.OPEN_PROTOCOL_SYNC, {39, 40, 41}),
        (OperationCategory.MEMBERS_AND_GROUPS, set(range(19, 26)) | set(range(28, 35))),
        (OperationCategory.INBOUND_BLACKLIST, set(range(11, 19))),
    ],
    ids=["open-protocol-sync", "members-and-groups", "inbound-blacklist"],
)
async def test_log_operation_category_filter(
    client: ExmailClient, sim: SimulatorHandle, category: OperationCategory, types: set[int]
) -> None:
    await sim.admin.generate(YESTERDAY, operation_records=400)
    everything = await truth(sim, "operation_log", YESTERDAY)
    records = await client.log_operation(YESTERDAY, YESTERDAY, category=category)
    assert [r.raw for r in records] == [r for r in everything if r["type"] in types]
    assert records


async def test_log_mailstatus_matches_truth(client: ExmailClient, sim: SimulatorHandle) -> None:
    await generate_yesterday(sim)
    summary = await client.log_mailstatus(DOMAIN, YESTERDAY, YESTERDAY)
    [expected] = [t["record"] for t in await sim.admin.truth("mail_status", date=YESTERDAY)]
    assert (summary.sendsum, summary.recvsum) == (expected["sendsum"], expected["recvsum"])
    assert summary.sendsum > 0 and summary.recvsum > 0
    days = [d async for d in client.mailstatus_days(DOMAIN, YESTERDAY, TODAY)]
    assert [d.result.sendsum for d in days] == [expected["sendsum"], 0]


@pytest.mark.parametrize(
    ("domain", "errcode"),
    [("other-corp.example.org", 601004), ("not a domain", 601003)],
    ids=["unknown-domain-601004", "malformed-domain-601003"],
)
async def test_log_mailstatus_domain_refused(client: ExmailClient, domain: str, errcode: int) -> None:
    with pytest.raises(ValidationError) as caught:
        await client.log_mailstatus(domain, TODAY, TODAY)
    assert caught.value.errcode == errcode


# --- dates: 601001, 601002, chunking


LogCall = Callable[[ExmailClient, str, str], Awaitable[Any]]

LOG_QUERIES: list[tuple[str, dict[str, Any], LogCall]] = [
    ("log/mail", {"mailtype": 0}, lambda c, b, e: c.log_mail(b, e)),
    ("log/login", {"userid": ADMIN}, lambda c, b, e: c.log_login(ADMIN, b, e)),
    ("log/batchjob", {}, lambda c, b, e: c.log_batchjob(b, e)),
    ("log/operation", {"type": 1}, lambda c, b, e: c.log_operation(b, e)),
    ("log/mailstatus", {"domain": DOMAIN}, lambda c, b, e: c.log_mailstatus(DOMAIN, b, e)),
]


@pytest.mark.parametrize(("endpoint", "body", "query"), LOG_QUERIES, ids=[q[0] for q in LOG_QUERIES])
@pytest.mark.parametrize(
    ("begin", "end"),
    [("2026-02-30", TODAY), ("2026/01/05", TODAY), (TODAY, YESTERDAY)],
    ids=["no-such-date", "wrong-format", "end-before-begin"],
)
async def test_log_invalid_dates_601001_refused_by_client_and_server_alike(
    client: ExmailClient,
    calls: Callable[[str], int],
    endpoint: str,
    body: dict[str, Any],
    query: LogCall,
    begin: str,
    end: str,
) -> None:
    """The client refuses bad dates before sending; the server answers the same dates with 601001."""
    with pytest.raises(ValueError):
        await query(client, begin, end)
    assert calls(endpoint) == 0
    with pytest.raises(ValidationError) as caught:
        await client._call(endpoint, body={**body, "begin_date": begin, "end_date": end})
    assert caught.value.errcode == 601001


async def test_log_span_longer_than_server_limit_601002(
    make_client: ClientFactory, sim: SimulatorHandle
) -> None:
    """A client chunk wider than the server's span limit is refused with 601002, not retried."""
    await sim.admin.set_choices(log_max_span_days=10)
    client = make_client(log_span_days=30)
    with pytest.raises(ValidationError) as caught:
        await client.log_batchjob("2025-12-01", TODAY)
    assert caught.value.errcode == 601002
    assert sim.sim.api.calls["log/batchjob"] == 1


async def test_log_span_at_server_limit_accepted(make_client: ClientFactory, sim: SimulatorHandle) -> None:
    """The client's widest chunk (91 dates) fits the simulator's default limit (end - begin <= 90 days)."""
    client = make_client(log_span_days=91)
    first = date(2026, 1, 5) - timedelta(days=90)
    assert await client.log_batchjob(first, TODAY) == []
    assert sim.sim.api.calls["log/batchjob"] == 1


async def test_log_span_91_days_apart_refused_as_observed_and_client_cannot_ask_it(
    make_client: ClientFactory, sim: SimulatorHandle
) -> None:
    """SUN saw 601002 for 2018-02-18..2018-05-20 (91 days apart, 92 dates); the simulator's default limit is
    90 days apart, and the client's settings refuse a chunk of 92 dates."""
    client = make_client()
    first = date(2026, 1, 5) - timedelta(days=91)
    with pytest.raises(ValidationError) as caught:
        await client._call("log/batchjob", body={"begin_date": first.isoformat(), "end_date": TODAY})
    assert caught.value.errcode == 601002
    assert await client.log_batchjob(first, TODAY) == []  # chunked by 30 dates: accepted
    with pytest.raises(ValueError, match="log_span_days"):
        make_client(log_span_days=92)


async def test_log_mail_200_days_chunked_against_90_day_limit(
    make_client: ClientFactory, sim: SimulatorHandle
) -> None:
    await sim.admin.set_choices(log_retention_days=None)  # keep 200 days of history
    client = make_client(log_span_days=91)
    last = date(2026, 1, 5)
    first = last - timedelta(days=199)
    edges = [
        first,
        first + timedelta(days=90),
        first + timedelta(days=91),
        first + timedelta(days=181),
        first + timedelta(days=182),
        last - timedelta(days=1),
    ]
    injected = [await inject_mail(sim, noon(d), f"edge {d.isoformat()}") for d in edges]
    injected.append(await inject_mail(sim, T0 - 60, "today"))
    with pytest.raises(ValidationError) as caught:
        await client._call(
            "log/mail", body={"begin_date": first.isoformat(), "end_date": TODAY, "mailtype": 0}
        )
    assert caught.value.errcode == 601002  # one 200-day query is refused ...
    records = await client.log_mail(first, last)  # ... the client's chunked query is not
    assert [r.raw for r in records] == injected
    assert sim.sim.api.calls["log/mail"] == 1 + 3


async def test_log_mailstatus_200_days_chunked_and_summed(client: ExmailClient, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(log_retention_days=None)  # keep 200 days of history
    last = date(2026, 1, 5)
    first = last - timedelta(days=199)
    for offset in (0, 45, 120, 198):
        await inject_mail(sim, noon(first + timedelta(days=offset)), "out")
        await inject_mail(
            sim,
            noon(first + timedelta(days=offset)),
            "in",
            mailtype=2,
            sender="a@qq.com",
            receiver=ADMIN,
            status=13,
        )
    summary = await client.log_mailstatus(DOMAIN, first, last)
    assert (summary.sendsum, summary.recvsum) == (4, 4)
    assert sim.sim.api.calls["log/mailstatus"] == 7  # default chunks of 30 dates


async def test_log_login_200_days_chunked(make_client: ClientFactory, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(log_retention_days=None)  # keep 200 days of history
    client = make_client(log_span_days=91)
    first = date(2026, 1, 5) - timedelta(days=199)
    times = [noon(first + timedelta(days=offset)) for offset in (0, 90, 91, 150)] + [T0 - 60]
    for i, when in enumerate(times):
        await sim.admin.inject_log("login_log", {"time": when, "ip": f"10.0.0.{i}", "type": 1}, userid=ADMIN)
    records = await client.log_login(ADMIN, first, TODAY)
    assert [r.time for r in records] == times
    assert sim.sim.api.calls["log/login"] == 3
