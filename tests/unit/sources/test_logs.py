"""Log pollers over fakes: fingerprint + dedup, lag and closing, restart rebuild, failures, backfill chunks."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from pipeline.exmail import RateLimited, TransportError
from pipeline.records import raw_id
from pipeline.sources.config import LoginPollSettings
from pipeline.sources.logs import LoginLogPoller, LogPoller

MAIL = "t.exmail.raw.mail_log"


def mail(t: int, n: int = 0, **over: Any) -> dict[str, Any]:
    rec = {"mailtype": 1, "sender": "alice@acme.com", "receiver": f"bob{n}@x.com", "subject": f"s{n}",
           "time": t, "status": 3}
    rec.update(over)
    return rec


def expected_ids(env: Any, kind: str, records: list[dict[str, Any]], day: str) -> set[str]:
    counts: Counter[str] = Counter()
    out = set()
    for r in records:
        ident = repr(sorted(r.items()))
        out.add(raw_id(env.corp.corp_id, kind, r, counts[ident], {"date": day}))
        counts[ident] += 1
    return out


async def test_each_record_once_and_repoll_adds_nothing(env: Any, local: Any) -> None:
    recs = [mail(local("2026-03-10", 9, i), i) for i in range(20)] + [mail(local("2026-03-09", 23), 99)]
    for r in recs:
        env.api.add("mail_log", r)
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    assert await poller.run_window() == 21
    assert await poller.run_window() == 0
    ids = env.broker.ids(MAIL)
    assert len(ids) == len(set(ids)) == 21
    assert set(ids) == expected_ids(env, "mail_log", recs[:20], "2026-03-10") | expected_ids(
        env, "mail_log", recs[20:], "2026-03-09")
    values = env.broker.values(MAIL)
    assert {v["data"]["context"]["date"] for v in values} == {"2026-03-10", "2026-03-09"}
    first = next(v for v in values if v["data"]["record"] == recs[0])
    assert first["data"]["context"] == {"date": "2026-03-10", "query_mailtype": 0}
    assert first["schema"] == "exmail.raw.mail_log/1" and first["corp_id"] == env.corp.corp_id


async def test_identical_records_get_occurrences(env: Any, local: Any) -> None:
    t = local("2026-03-10", 10)
    env.api.add("mail_log", mail(t))
    env.api.add("mail_log", mail(t))
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    assert await poller.run_window() == 2
    assert set(env.broker.ids(MAIL)) == {
        raw_id(env.corp.corp_id, "mail_log", mail(t), occ, {}) for occ in (0, 1)
    }
    env.api.add("mail_log", mail(t))  # a third identical line shows up late
    assert await poller.run_window() == 1
    assert len(set(env.broker.ids(MAIL))) == 3


async def test_late_record_is_picked_up_while_date_open(env: Any, local: Any) -> None:
    env.api.add("mail_log", mail(local("2026-03-10", 8), 1))
    env.api.add("mail_log", mail(local("2026-03-10", 9), 2), visible_at=local("2026-03-11", 3))
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    assert await poller.run_window() == 1
    env.clock.value = local("2026-03-11", 4)  # yesterday still open: lag is 6 h
    assert await poller.run_window() == 1
    assert poller.cursor.closed_through == date(2026, 3, 9)
    env.clock.value = local("2026-03-11", 6, 30)
    assert await poller.run_window() == 0
    assert poller.cursor.closed_through == date(2026, 3, 10)
    assert len(poller.seen) == 0  # the closed dates were dropped; nothing seen on 03-11 yet
    assert sorted(poller.cursor.marks) == [date(2026, 3, 11)]
    assert len(env.broker.ids(MAIL)) == 2


async def test_restart_after_partial_delivery_yields_no_gap_no_duplicate(env: Any, local: Any) -> None:
    recs = [mail(local("2026-03-10", 1, i), i) for i in range(50)]
    for r in recs:
        env.api.add("mail_log", r)
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    sent = {"n": 0}

    def fail_after_20(topic: str, _v: Any) -> bool:
        if topic != MAIL:
            return False
        sent["n"] += 1
        return sent["n"] > 20

    env.broker.fail = fail_after_20
    assert not await poller.run_once()  # a failed run is reported, not raised
    assert len(env.broker.ids(MAIL)) == 20
    errors = env.broker.values("t.exmail.raw.pipeline_error")
    assert errors and errors[-1]["data"]["stream"] == "mail_log"
    assert errors[-1]["data"]["window"] == {"begin_date": "2026-03-08", "end_date": "2026-03-10"}
    env.broker.fail = lambda _t, _v: False

    restarted = env.fresh()  # a new process: nothing in memory, only the topics
    await restarted.load()
    again = LogPoller(restarted.rt, restarted.corp, "mail_log")
    await again.prepare()
    assert len(again.seen) == 20
    assert await again.run_window() == 30
    ids = env.broker.ids(MAIL)
    assert len(ids) == len(set(ids)) == 50
    assert set(ids) == expected_ids(env, "mail_log", recs, "2026-03-10")


async def test_restart_when_cursor_write_was_lost(env: Any, local: Any) -> None:
    for i in range(10):
        env.api.add("mail_log", mail(local("2026-03-10", 2, i), i))
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    await poller.run_window()
    env.broker.logs["t.exmail.state.cursors"] = [[] for _ in range(3)]  # records delivered, cursor never saved
    for i in range(10, 15):
        env.api.add("mail_log", mail(local("2026-03-10", 3, i), i))
    restarted = env.fresh()
    await restarted.load()
    again = LogPoller(restarted.rt, restarted.corp, "mail_log")
    await again.prepare()
    assert await again.run_window() == 5
    ids = env.broker.ids(MAIL)
    assert len(ids) == len(set(ids)) == 15


async def test_marks_bound_the_rebuild_scan(env: Any, local: Any) -> None:
    env.api.add("mail_log", mail(local("2026-03-10", 2), 1))
    await env.load()
    poller = LogPoller(env.rt, env.corp, "mail_log")
    await poller.prepare()
    await poller.run_window()
    env.clock.value = local("2026-03-12", 12)  # two days later: 03-10 and 03-11 close, 03-12 opens
    env.api.add("mail_log", mail(local("2026-03-12", 9), 2))
    await poller.run_window()
    assert poller.cursor.closed_through == date(2026, 3, 11)
    start = poller.cursor.scan_start()
    assert start is not None and sum(start.values()) == 1  # only the 03-10 record lies before the mark
    restarted = env.fresh()
    await restarted.load()
    again = LogPoller(restarted.rt, restarted.corp, "mail_log")
    await again.prepare()
    assert len(again.seen) == 1 and again.seen.dates() == [date(2026, 3, 12)]
    assert await again.run_window() == 0


async def test_api_error_publishes_pipeline_error_and_keeps_place(env: Any, local: Any) -> None:
    env.api.add("operation_log", {"time": local("2026-03-10", 5), "operator": "admin@acme.com", "type": 19,
                                  "operand": "new@acme.com"})
    env.api.errors["log/operation"] = [RateLimited(45009, "api freq out of limit", "log/operation")]
    await env.load()
    poller = LogPoller(env.rt, env.corp, "operation_log")
    await poller.prepare()
    assert not await poller.run_once()
    err = env.broker.values("t.exmail.raw.pipeline_error")[-1]
    assert err["data"]["errcode"] == 45009 and err["data"]["error_type"] == "RateLimited"
    assert err["data"]["gap_risk"] is True  # the window starts at an already closable date
    assert poller.cursor.closed_through is None
    assert await poller.run_once()
    assert len(env.broker.ids("t.exmail.raw.operation_log")) == 1
    assert poller.cursor.closed_through == date(2026, 3, 9)


async def test_backfill_is_chunked_to_the_span_limit(env: Any, local: Any) -> None:
    env.rt.poll = env.rt.poll.model_copy(update={"backfill_days": 9, "span_days": 4})
    for day in range(1, 11):
        env.api.add("batchjob_log", {"time": local(f"2026-03-{day:02d}", 10), "operator": "a@acme.com",
                                     "type": 2, "status": 1})
    await env.load()
    poller = LogPoller(env.rt, env.corp, "batchjob_log")
    done: list[int] = []
    poller.progress = done.append
    await poller.prepare()
    assert await poller.run_window() == 10
    spans = [args for name, args in env.api.calls if name == "log/batchjob"]
    assert spans == [(date(2026, 3, 1), date(2026, 3, 4)), (date(2026, 3, 5), date(2026, 3, 8)),
                     (date(2026, 3, 9), date(2026, 3, 10))]
    assert sum(done) == 10
    assert poller.cursor.closed_through == date(2026, 3, 9) and poller.cursor.backfill_done


async def test_login_poller_per_user(env: Any, local: Any) -> None:
    users = ["u1@acme.com", "u2@acme.com", "u3@acme.com"]
    env.api.users = [{"userid": u, "name": u, "department": [1]} for u in users]
    env.corp.directory.users = {u: {"userid": u} for u in [*users, "gone@acme.com"]}
    env.corp.directory.ready.set()
    for i, u in enumerate(users):
        env.api.add("login_log", {"time": local("2026-03-10", 8, i), "ip": "10.0.0.1", "type": 1}, userid=u)
    env.api.add("login_log", {"time": local("2026-03-10", 9), "ip": "10.0.0.2", "type": 1}, userid="u1@acme.com")
    env.api.errors["log/login:u2@acme.com"] = [RateLimited(45009, "freq", "log/login")]
    await env.load()
    poller = LoginLogPoller(env.rt, env.corp)
    await poller.prepare()
    assert not await poller.run_once()
    values = env.broker.values("t.exmail.raw.login_log")
    assert {v["data"]["context"]["userid"] for v in values} == {"u1@acme.com", "u3@acme.com"}
    assert poller.cursor.closed_through is None
    assert await poller.run_once()
    values = env.broker.values("t.exmail.raw.login_log")
    assert len(values) == len({v["id"] for v in values}) == 4
    v = next(v for v in values if v["data"]["context"]["userid"] == "u2@acme.com")
    assert v["id"] == raw_id(env.corp.corp_id, "login_log", v["data"]["record"], 0,
                             {"userid": "u2@acme.com", "date": "2026-03-10"})


async def test_login_run_failure_names_the_most_common_error_not_the_first(env: Any, local: Any) -> None:
    """A run in which users failed for different reasons is told by the most common one (and counts the rest):
    a rate limit that outlasted the retries for most users is not reported as one user's HTTP 503 that happened
    to come first."""
    users = [f"u{i}@acme.com" for i in range(5)]
    env.api.users = [{"userid": u, "name": u, "department": [1]} for u in users]
    env.corp.directory.users = {u: {"userid": u} for u in users}
    env.corp.directory.ready.set()
    env.api.errors["log/login:u0@acme.com"] = [TransportError(None, "HTTP 503", "log/login", status_code=503)]
    for u in users[1:4]:
        env.api.errors[f"log/login:{u}"] = [RateLimited(45009, "api freq out of limit", "log/login")]
    await env.load()
    poller = LoginLogPoller(env.rt, env.corp)
    await poller.prepare()
    assert not await poller.run_once()
    err = env.broker.values("t.exmail.raw.pipeline_error")[-1]["data"]
    assert err["errcode"] == 45009 and err["stream"] == "login_log"
    assert "failed for 4 user(s), 3 of them" in err["message"] and "(also transport for 1)" in err["message"]


def login_env(env: Any, local: Any, count: int, budget: int, sweep_seconds: float = 3000.0) -> list[str]:
    """`count` users with one login each on 2026-03-10; the login poller's budget and sweep as given."""
    users = [f"u{i:03d}@acme.com" for i in range(count)]
    env.api.users = [{"userid": u, "name": u, "department": [1]} for u in users]
    env.corp.directory.users = {u: {"userid": u} for u in users}
    env.corp.directory.ready.set()
    for i, u in enumerate(users):
        env.api.add("login_log", {"time": local("2026-03-10", 8, i % 60), "ip": "10.0.0.1", "type": 1}, userid=u)
    env.rt.poll = env.rt.poll.model_copy(update={"login": LoginPollSettings(
        budget_calls=budget, sweep_seconds=sweep_seconds, spread_fraction=0.0)})
    return users


async def test_login_poller_budget_active_first_then_rotation(env: Any, local: Any) -> None:
    users = login_env(env, local, 30, budget=10, sweep_seconds=3000.0)  # interval 600: a slice of 6 per run
    env.corp.activity.update({"u020@acme.com": 5.0, "u025@acme.com": 9.0})  # seen in the mail log
    await env.load()
    poller = LoginLogPoller(env.rt, env.corp)
    await poller.prepare()
    assert await poller.run_once()
    plan = poller.last_plan
    assert plan is not None and len(plan.users) == 10 and plan.active == 2
    assert plan.users[:6] == users[:6]  # the rotation's slice first
    assert plan.users[6:8] == users[6:8] and plan.users[8:] == ["u025@acme.com", "u020@acme.com"]
    read = [args[0] for name, args in env.api.calls if name == "log/login"]
    assert sorted(read) == sorted(plan.users)


async def test_login_poller_rotation_reads_everyone_and_closes_dates_only_after_it(env: Any, local: Any) -> None:
    users = login_env(env, local, 25, budget=10)
    env.clock.value = local("2026-03-11", 7)  # 2026-03-10 is past its 6 h lag: closable once everyone was read
    await env.load()
    poller = LoginLogPoller(env.rt, env.corp)
    await poller.prepare()
    for run in range(3):
        assert await poller.run_once()
        assert poller.last_plan is not None
        assert poller.last_plan.completes == (run == 2)
        assert poller.cursor.closed_through == (date(2026, 3, 10) if run == 2 else None)
    values = env.broker.values("t.exmail.raw.login_log")
    assert sorted(v["data"]["context"]["userid"] for v in values) == users  # every user exactly once


async def test_login_poller_small_tenant_is_read_whole_every_run(env: Any, local: Any) -> None:
    users = login_env(env, local, 8, budget=100)
    await env.load()
    poller = LoginLogPoller(env.rt, env.corp)
    await poller.prepare()
    for _ in range(2):
        assert await poller.run_once()
        assert poller.last_plan is not None and sorted(poller.last_plan.users) == users
        assert poller.last_plan.completes


def test_login_budget_defaults_to_half_the_app_rate_over_the_interval(env: Any) -> None:
    poller = LoginLogPoller(env.rt, env.corp)
    assert poller.budget() == int(0.5 * 10.0 * 600)
