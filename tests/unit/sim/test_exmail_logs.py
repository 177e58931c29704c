"""Conformance table for the system-log endpoints, newcount, useroption and SSO, including late records."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from pipeline.sim import SimulatorHandle

DOMAIN = "corp.example.com"
DAY = "2026-01-05"
T0 = 1767578400  # 2026-01-05T10:00:00+08:00, the fixture's start
WINDOW = {"begin_date": DAY, "end_date": DAY}


async def log_call(exmail: Any, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
    return await exmail.call("system_log", endpoint, body)


async def seed_mail(sim: SimulatorHandle) -> None:
    records = [
        {"mailtype": 1, "sender": f"admin@{DOMAIN}", "receiver": "x@partner-logistics.cn", "subject": "报价单",
         "time": T0 - 3600, "status": 3},
        {"mailtype": 2, "sender": "y@qq.com", "receiver": f"service@{DOMAIN}", "subject": "投诉 订单",
         "time": T0 - 1800, "status": 13},
        {"mailtype": 2, "sender": "spam@promo-deals.biz", "receiver": f"admin@{DOMAIN}", "subject": "中奖",
         "time": T0 - 60, "status": 12},
    ]
    for r in records:
        await sim.admin.inject_log("mail_log", r)


async def test_log_mail_returns_records_exactly(exmail: Any, sim: SimulatorHandle) -> None:
    await seed_mail(sim)
    r = await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 0})
    assert r["errcode"] == 0 and r["errmsg"] == "ok"
    assert [x["time"] for x in r["list"]] == [T0 - 3600, T0 - 1800, T0 - 60]
    assert set(r["list"][0]) == {"mailtype", "sender", "receiver", "subject", "time", "status"}


async def test_log_mail_filters_mailtype_userid_subject(exmail: Any, sim: SimulatorHandle) -> None:
    await seed_mail(sim)
    assert len((await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 1}))["list"]) == 1
    assert len((await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 2}))["list"]) == 2
    by_user = await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 0, "userid": f"admin@{DOMAIN}"})
    assert {x["subject"] for x in by_user["list"]} == {"报价单", "中奖"}
    by_subject = await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 0, "subject": "订单"})
    assert [x["subject"] for x in by_subject["list"]] == ["投诉 订单"]


async def test_log_mail_missing_mailtype_returns_40058(exmail: Any) -> None:
    assert (await log_call(exmail, "log/mail", WINDOW))["errcode"] == 40058


async def test_log_mail_span_over_limit_returns_601002(exmail: Any) -> None:
    """Default 90 days apart (SUN saw 601002 for 2018-02-18..2018-05-20, 91 days apart)."""
    r = await log_call(exmail, "log/mail", {"begin_date": "2025-10-06", "end_date": DAY, "mailtype": 0})
    assert r == {"errcode": 601002, "errmsg": "time span exceeds the limit"}  # 91 days apart
    ok = await log_call(exmail, "log/mail", {"begin_date": "2025-10-07", "end_date": DAY, "mailtype": 0})
    assert ok["errcode"] == 0  # exactly 90 days apart


async def test_log_span_limit_is_configurable(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.set_choices(log_max_span_days=30)
    r = await log_call(exmail, "log/batchjob", {"begin_date": "2025-12-01", "end_date": DAY})
    assert r["errcode"] == 601002


async def test_log_invalid_dates_return_601001(exmail: Any) -> None:
    for window in ({"begin_date": "2026-13-01", "end_date": DAY}, {"begin_date": "20260105", "end_date": DAY},
                   {"begin_date": DAY, "end_date": "2026-01-04"}, {"end_date": DAY}, {}):
        for endpoint in ("log/mail", "log/batchjob", "log/operation"):
            r = await log_call(exmail, endpoint, {**window, "mailtype": 0, "type": 1})
            assert r["errcode"] == 601001, (endpoint, window)


async def test_log_mailstatus_counts_sent_and_received(exmail: Any, sim: SimulatorHandle) -> None:
    await seed_mail(sim)
    r = await log_call(exmail, "log/mailstatus", {**WINDOW, "domain": DOMAIN})
    assert r == {"errcode": 0, "errmsg": "ok", "sendsum": 1, "recvsum": 2}
    truth = await sim.admin.truth("mail_status", date=DAY)
    assert truth[0]["record"] == {"sendsum": 1, "recvsum": 2}


async def test_log_mailstatus_unknown_domain_returns_601004(exmail: Any) -> None:
    assert (await log_call(exmail, "log/mailstatus", {**WINDOW, "domain": "other.com"}))["errcode"] == 601004


async def test_log_mailstatus_invalid_domain_returns_601003(exmail: Any) -> None:
    assert (await log_call(exmail, "log/mailstatus", {**WINDOW, "domain": "not a domain"}))["errcode"] == 601003


async def test_log_login_returns_the_users_records(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.inject_log("login_log", {"time": T0 - 100, "ip": "113.108.1.2", "type": 1},
                               userid=f"admin@{DOMAIN}")
    await sim.admin.inject_log("login_log", {"time": T0 - 50, "ip": "1.2.3.4", "type": 4}, userid=f"it.ops@{DOMAIN}")
    r = await log_call(exmail, "log/login", {**WINDOW, "userid": f"admin@{DOMAIN}"})
    assert r["list"] == [{"time": T0 - 100, "ip": "113.108.1.2", "type": 1}]


async def test_log_login_unknown_user_returns_60111(exmail: Any) -> None:
    assert (await log_call(exmail, "log/login", {**WINDOW, "userid": f"ghost@{DOMAIN}"}))["errcode"] == 60111


async def test_log_login_missing_userid_returns_40003(exmail: Any) -> None:
    assert (await log_call(exmail, "log/login", WINDOW))["errcode"] == 40003


async def test_log_batchjob_returns_records(exmail: Any, sim: SimulatorHandle) -> None:
    rec = {"time": T0 - 10, "operator": f"admin@{DOMAIN}", "type": 2, "status": 0}
    await sim.admin.inject_log("batchjob_log", rec)
    assert (await log_call(exmail, "log/batchjob", WINDOW))["list"] == [rec]


async def test_log_operation_category_filters_and_type_zero(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.inject_log("operation_log", {"time": T0 - 10, "operator": f"admin@{DOMAIN}", "type": 1,
                                                 "operand": "113.108.1.2"})
    await sim.admin.inject_log("operation_log", {"time": T0 - 5, "operator": f"admin@{DOMAIN}", "type": 20,
                                                 "operand": f"x@{DOMAIN}", "remark": "1"})
    assert len((await log_call(exmail, "log/operation", {**WINDOW, "type": 1}))["list"]) == 2
    member = (await log_call(exmail, "log/operation", {**WINDOW, "type": 8}))["list"]
    assert member == [{"time": T0 - 5, "operator": f"admin@{DOMAIN}", "type": 20, "operand": f"x@{DOMAIN}",
                       "remark": "1"}]
    assert [x["type"] for x in (await log_call(exmail, "log/operation", {**WINDOW, "type": 3}))["list"]] == [1]
    assert len((await log_call(exmail, "log/operation", {**WINDOW, "type": 0}))["list"]) == 2
    assert (await log_call(exmail, "log/operation", {**WINDOW, "type": 11}))["errcode"] == 40058


async def test_late_records_appear_when_clock_passes_visibility(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.inject_log("batchjob_log", {"time": T0 - 10, "operator": f"admin@{DOMAIN}", "type": 1,
                                                "status": 0}, visible_at=T0 + 600)
    assert (await log_call(exmail, "log/batchjob", WINDOW))["list"] == []
    truth = await sim.admin.truth("batchjob_log", date=DAY)
    assert len(truth) == 1 and truth[0]["visible"] is False
    assert await sim.admin.truth("batchjob_log", date=DAY, visible_only=True) == []
    await sim.admin.advance(599)
    assert (await log_call(exmail, "log/batchjob", WINDOW))["list"] == []
    await sim.admin.advance(1)
    assert len((await log_call(exmail, "log/batchjob", WINDOW))["list"]) == 1


async def test_late_record_crossing_midnight_stays_on_its_own_date(exmail: Any, sim: SimulatorHandle) -> None:
    late_evening = T0 + 13 * 3600 + 1800  # 23:30 local
    await sim.admin.inject_log("batchjob_log", {"time": late_evening, "operator": f"admin@{DOMAIN}", "type": 7,
                                                "status": 0}, visible_at=late_evening + 3600)
    await sim.admin.advance(14 * 3600)  # 00:00 next day: not yet visible
    assert (await log_call(exmail, "log/batchjob", WINDOW))["list"] == []
    await sim.admin.advance(1800)
    assert len((await log_call(exmail, "log/batchjob", WINDOW))["list"]) == 1
    nextday = {"begin_date": "2026-01-06", "end_date": "2026-01-06"}
    assert (await log_call(exmail, "log/batchjob", nextday))["list"] == []


async def test_log_order_desc_choice(exmail: Any, sim: SimulatorHandle) -> None:
    await seed_mail(sim)
    await sim.admin.set_choices(log_order="desc")
    r = await log_call(exmail, "log/mail", {**WINDOW, "mailtype": 0})
    assert [x["time"] for x in r["list"]] == [T0 - 60, T0 - 1800, T0 - 3600]


async def test_log_retention_window_choice_hides_old_records(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.inject_log("batchjob_log", {"time": T0 - 40 * 86400, "operator": f"admin@{DOMAIN}", "type": 1,
                                                "status": 0})
    window = {"begin_date": "2025-11-20", "end_date": "2025-11-30"}
    assert len((await log_call(exmail, "log/batchjob", window))["list"]) == 1  # default: 90 days kept
    await sim.admin.set_choices(log_retention_days=30)
    assert (await log_call(exmail, "log/batchjob", window))["list"] == []


async def test_log_retention_default_90_days_hides_older_records(exmail: Any, sim: SimulatorHandle) -> None:
    for age in (89, 95):
        await sim.admin.inject_log("batchjob_log", {"time": T0 - age * 86400, "operator": f"admin@{DOMAIN}",
                                                    "type": 1, "status": 0})
    window = {"begin_date": "2025-10-07", "end_date": DAY}
    assert [r["time"] for r in (await log_call(exmail, "log/batchjob", window))["list"]] == [T0 - 89 * 86400]
    await sim.admin.set_choices(log_retention_days=None)
    old = {"begin_date": "2025-09-01", "end_date": "2025-10-06"}
    assert len((await log_call(exmail, "log/batchjob", old))["list"]) == 1


# --- newcount

async def test_mail_newcount_get_and_post_return_count(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.deliver_mail(f"admin@{DOMAIN}", subject="one")
    await sim.admin.deliver_mail(f"admin@{DOMAIN}", subject="two")
    token = await exmail.token("mail_notice")
    get = (await exmail.http.get("mail/newcount", params={"access_token": token, "userid": f"admin@{DOMAIN}"}))
    assert get.json() == {"errcode": 0, "errmsg": "ok", "count": 2}
    post = await exmail.http.post("mail/newcount", params={"access_token": token},
                                  json={"userid": f"admin@{DOMAIN}", **WINDOW})
    assert post.json()["count"] == 2
    query_userid = await exmail.http.post("mail/newcount", params={"access_token": token,
                                                                   "userid": f"admin@{DOMAIN}"}, json={})
    assert query_userid.json()["count"] == 2
    await sim.admin.read_mail(f"admin@{DOMAIN}")
    assert (await exmail.call("mail_notice", "mail/newcount", {"userid": f"admin@{DOMAIN}"}))["count"] == 0


async def test_mail_newcount_date_window_and_errors(exmail: Any, sim: SimulatorHandle) -> None:
    await sim.admin.deliver_mail(f"admin@{DOMAIN}", time=T0 - 86400)
    await sim.admin.deliver_mail(f"admin@{DOMAIN}")
    r = await exmail.call("mail_notice", "mail/newcount", {"userid": f"admin@{DOMAIN}", **WINDOW})
    assert r["count"] == 1
    await sim.admin.set_choices(newcount_without_dates="today")
    assert (await exmail.call("mail_notice", "mail/newcount", {"userid": f"admin@{DOMAIN}"}))["count"] == 1
    r = await exmail.call("mail_notice", "mail/newcount", {"userid": f"ghost@{DOMAIN}"})
    assert r["errcode"] == 60111
    r = await exmail.call("mail_notice", "mail/newcount", {"userid": f"admin@{DOMAIN}", "begin_date": "x",
                                                           "end_date": DAY})
    assert r["errcode"] == 601001


# --- useroption

async def test_useroption_get_and_update(exmail: Any, sim: SimulatorHandle) -> None:
    r = await exmail.call("function_setting", "useroption/get", {"userid": f"admin@{DOMAIN}", "type": ["1", 2, 3]})
    assert r["errcode"] == 0 and [o["type"] for o in r["option"]] == [1, 2, 3]
    assert all(isinstance(o["value"], str) for o in r["option"])
    r = await exmail.call("function_setting", "useroption/update", {
        "userid": f"admin@{DOMAIN}", "option": [{"type": 1, "value": "1"}, {"type": 2, "value": "0"}]})
    assert r == {"errcode": 0, "errmsg": "updated"}
    r = await exmail.call("function_setting", "useroption/get", {"userid": f"admin@{DOMAIN}", "type": [1, 2]})
    assert r["option"] == [{"type": 1, "value": "1"}, {"type": 2, "value": "0"}]
    ops = (await log_call(exmail, "log/operation", {**WINDOW, "type": 1}))["list"]
    assert {"type": 23, "operand": f"admin@{DOMAIN}"}.items() <= ops[-1].items()
    assert (await sim.admin.options())[f"admin@{DOMAIN}"]["1"] == "1"


async def test_useroption_type4_is_read_only_and_unknown_user_60111(exmail: Any, sim: SimulatorHandle) -> None:
    r = await exmail.call("function_setting", "useroption/update", {"userid": f"admin@{DOMAIN}",
                                                                    "option": [{"type": 4, "value": "1"}]})
    assert r["errcode"] == 40058
    r = await exmail.call("function_setting", "useroption/get", {"userid": f"ghost@{DOMAIN}", "type": [1]})
    assert r["errcode"] == 60111
    await sim.admin.set_choices(useroption_update_errmsg="update")
    r = await exmail.call("function_setting", "useroption/update", {"userid": f"admin@{DOMAIN}",
                                                                    "option": [{"type": 3, "value": "0"}]})
    assert r == {"errcode": 0, "errmsg": "update"}


# --- SSO

async def test_sso_login_url_works_once(exmail: Any, sim: SimulatorHandle) -> None:
    r = await exmail.call("unique_login", "service/get_login_url", {"userid": f"admin@{DOMAIN}"}, method="GET")
    assert r["errcode"] == 0 and r["expires_in"] == 300
    url = urlparse(r["login_url"])
    query = parse_qs(url.query)
    assert url.path == "/cgi-bin/login" and query["fun"] == ["bizopenssologin"] and query["method"] == ["openapi"]
    assert query["userid"] == [f"admin@{DOMAIN}"] and query["authkey"]
    async with httpx.AsyncClient() as http:
        first = await http.get(r["login_url"])
        second = await http.get(r["login_url"])
    assert first.status_code == 200 and second.status_code == 403
    logins = (await log_call(exmail, "log/login", {**WINDOW, "userid": f"admin@{DOMAIN}"}))["list"]
    assert logins == [{"time": T0, "ip": "127.0.0.1", "type": 1}]


async def test_sso_unknown_user_returns_60111(exmail: Any) -> None:
    r = await exmail.call("unique_login", "service/get_login_url", {"userid": f"ghost@{DOMAIN}"}, method="GET")
    assert r["errcode"] == 60111
