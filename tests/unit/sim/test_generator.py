"""The seeded company and the traffic generator: determinism, realism, enum coverage, late records, and
ground-truth ids that match what a poller computes from the API answers."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.records import raw_id, with_occurrences
from pipeline.sim import SimConfig, Simulator, SimulatorHandle, run_simulator
from pipeline.sim._truth import log_truth

START = "2026-01-05T00:00:00+08:00"
DAY = "2026-01-05"
DOMAIN = "corp.example.com"


def traffic_sim(seed: int = 3, users: int = 60) -> Simulator:
    return Simulator(SimConfig(seed=seed, users=users, speed=0, start=START, mount_surfaces=False,
                               traffic={"enabled": True, "mails_per_user_per_day": 10}))


def all_truth(sim: Simulator) -> list[str]:
    ids = []
    for kind in ("mail_log", "login_log", "operation_log", "batchjob_log"):
        ids += [r["id"] for r in log_truth(sim.corp, kind, sim.corp.logs.dates(kind), sim.clock.now(), False, "asc")]
    return ids


def test_generator_same_seed_same_records_other_seed_differs() -> None:
    a, b, c = traffic_sim(3), traffic_sim(3), traffic_sim(4)
    for sim in (a, b, c):
        sim.clock.advance(12 * 3600)
        sim.tick()
    assert all_truth(a) == all_truth(b)
    assert len(all_truth(a)) > 200
    assert all_truth(a) != all_truth(c)
    assert [m["mail_id"] for m in a.corp.new_mail_truth] == [m["mail_id"] for m in b.corp.new_mail_truth]


def test_generator_content_independent_of_clock_steps() -> None:
    one_jump, small_steps = traffic_sim(), traffic_sim()
    one_jump.clock.advance(3 * 3600)
    one_jump.tick()
    for _ in range(36):
        small_steps.clock.advance(300)
        small_steps.tick()
    assert all_truth(one_jump) == all_truth(small_steps)


def test_company_is_realistic_and_seeded() -> None:
    sim = Simulator(SimConfig(seed=9, users=300, mount_surfaces=False, traffic={"enabled": False}))
    directory = sim.corp.directory
    assert len(directory.users) == 300
    assert all(d.id >= 10**18 for d in directory.departments.values() if d.id != 1)
    assert all(u.userid.endswith("@" + DOMAIN) for u in directory.users.values())
    names = [u.name for u in directory.users.values()]
    assert any(all("\u4e00" <= ch <= "\u9fff" for ch in n) for n in names)
    assert any(n.isascii() and " " in n for n in names)
    assert f"service@{DOMAIN}" in directory.users
    assert {f"all@{DOMAIN}", f"support@{DOMAIN}"} <= set(directory.groups)
    assert sim.corp.company.partner_domains and sim.corp.company.customer_domains
    again = Simulator(SimConfig(seed=9, users=300, mount_surfaces=False, traffic={"enabled": False}))
    assert again.corp.directory.dump() == directory.dump()
    assert sim.credentials["secrets"] == again.credentials["secrets"]


async def test_generate_day_exact_counts_and_every_enum_value() -> None:
    config = SimConfig(seed=11, users=80, speed=0, start="2026-01-07T12:00:00+08:00", mount_surfaces=False,
                       traffic={"enabled": False, "midnight_fraction": 0.02})
    async with run_simulator(config) as handle:
        body = await handle.admin.generate(DAY, mail_records=3000, login_records=600, operation_records=900,
                                           batchjob_records=200)
        gen = body["generated"]
        assert (gen["mail_log"], gen["login_log"], gen["operation_log"], gen["batchjob_log"]) == (3000, 600, 900,
                                                                                                  200)
        mail = await handle.admin.truth("mail_log", date=DAY)
        assert len(mail) == 3000
        assert {r["record"]["status"] for r in mail} == {0, 1, 2, 3, 4, 11, 12, 13, 14}
        assert {r["record"]["mailtype"] for r in mail} == {1, 2}
        logins = await handle.admin.truth("login_log", date=DAY)
        assert {r["record"]["type"] for r in logins} == {1, 2, 3, 4, 5}
        ops = await handle.admin.truth("operation_log", date=DAY)
        assert {r["record"]["type"] for r in ops} == set(range(1, 42))
        jobs = await handle.admin.truth("batchjob_log", date=DAY)
        assert {r["record"]["type"] for r in jobs} == set(range(10))
        late = [r for r in mail if r["visible_at"] > r["time"]]
        assert 0.05 * 3000 < len(late) < 0.3 * 3000
        day_end = handle.sim.clock.day_start(DAY) + 86400
        assert any(r["visible_at"] >= day_end for r in mail), "some records must cross midnight"
        partners = {r["record"]["sender"].split("@")[1] for r in mail if r["record"]["mailtype"] == 2}
        assert "partner-logistics.cn" in partners or "supplier-tech.com" in partners
        unusual = [r for r in logins if r["record"]["ip"].startswith(("185.220.", "45.142.", "103.21.", "91.240.",
                                                                      "196.52.", "5.188."))]
        assert unusual


async def test_generate_day_is_deterministic_per_seed() -> None:
    ids = []
    for _ in range(2):
        async with run_simulator(SimConfig(seed=5, users=30, speed=0, start=START, mount_surfaces=False,
                                           traffic={"enabled": False})) as handle:
            await handle.admin.generate(DAY, mail_records=200, login_records=50)
            ids.append([r["id"] for r in await handle.admin.truth("mail_log", date=DAY)])
    assert ids[0] == ids[1] and len(ids[0]) == 200


def poller_ids(corp_id: str, kind: str, answer: list[dict[str, Any]], context: dict[str, Any]) -> set[str]:
    return {raw_id(corp_id, kind, rec, occ, context) for occ, rec in with_occurrences(kind, answer, context)}


async def test_truth_ids_match_ids_computed_from_api_answers(exmail_day: Any) -> None:
    handle, exmail = exmail_day
    corp = handle.credentials["corp_id"]
    window = {"begin_date": DAY, "end_date": DAY}
    answer = (await exmail.call("system_log", "log/mail", {**window, "mailtype": 0}))["list"]
    truth = await handle.admin.truth("mail_log", date=DAY, visible_only=True)
    assert poller_ids(corp, "mail_log", answer, {"date": DAY, "query_mailtype": 0}) == {r["id"] for r in truth}
    ops = (await exmail.call("system_log", "log/operation", {**window, "type": 1}))["list"]
    truth = await handle.admin.truth("operation_log", date=DAY, visible_only=True)
    assert poller_ids(corp, "operation_log", ops, {"date": DAY, "query_type": 1}) == {r["id"] for r in truth}
    jobs = (await exmail.call("system_log", "log/batchjob", window))["list"]
    truth = await handle.admin.truth("batchjob_log", date=DAY, visible_only=True)
    assert poller_ids(corp, "batchjob_log", jobs, {"date": DAY}) == {r["id"] for r in truth}
    logins = await handle.admin.truth("login_log", date=DAY, visible_only=True)
    userid = Counter(r["context"]["userid"] for r in logins).most_common(1)[0][0]
    answer = (await exmail.call("system_log", "log/login", {**window, "userid": userid}))["list"]
    expected = {r["id"] for r in logins if r["context"]["userid"] == userid}
    assert poller_ids(corp, "login_log", answer, {"userid": userid, "date": DAY}) == expected


async def test_identical_records_get_distinct_occurrence_ids(sim: SimulatorHandle) -> None:
    record = {"mailtype": 1, "sender": f"admin@{DOMAIN}", "receiver": "a@qq.com", "subject": "same", "time":
              1767578000, "status": 3}
    await sim.admin.inject_log("mail_log", record)
    await sim.admin.inject_log("mail_log", record)
    truth = await sim.admin.truth("mail_log", date=DAY)
    assert [r["occurrence"] for r in truth] == [0, 1]
    assert len({r["id"] for r in truth}) == 2


async def test_traffic_drives_mailboxes_and_newcount() -> None:
    config = SimConfig(seed=2, users=40, speed=0, start="2026-01-05T08:00:00+08:00", mount_surfaces=False,
                       traffic={"enabled": True, "mails_per_user_per_day": 30, "read_fraction": 0.5})
    async with run_simulator(config) as handle:
        await handle.admin.advance(4 * 3600)
        truth = await handle.admin.truth("new_mail")
        arrivals = [r for r in truth if r["msg_type"] == "Mail"]
        reads = [r for r in truth if r["msg_type"] == "UnRead"]
        assert arrivals and reads
        assert all(r["new_count"] >= 1 for r in arrivals)
        now = handle.sim.clock.now()
        unread = {u: handle.sim.corp.mailboxes.unread(u, now) for u in {r["userid"] for r in arrivals}}
        userid = max(unread, key=lambda u: unread[u])
        assert unread[userid] > 0
        exmail_http = handle.credentials
        import httpx

        async with httpx.AsyncClient(base_url=handle.exmail_base) as http:
            token = (await http.get("gettoken", params={"corpid": exmail_http["corp_id"],
                                                        "corpsecret": exmail_http["secrets"]["mail_notice"]})
                     ).json()["access_token"]
            count = (await http.get("mail/newcount", params={"access_token": token, "userid": userid})).json()
        assert count["count"] == unread[userid]
