"""The generator drives the address book: operation log, directory and mail/login logs agree at every moment
(the /_sim/agreement checker), rare admin events are rare, and "administrator" appears as an operator."""

from __future__ import annotations

from collections import Counter
from typing import Any

from pipeline.sim import SimConfig, Simulator, SimulatorHandle, run_simulator
from pipeline.sim._agreement import check_agreement
from pipeline.sim.generator import OPERATION_RATES

START = "2026-01-05T00:00:00+08:00"
RARE = (3, 4, 5, 6, 13, 16, 35, 39, 40, 41)


def week_config(**traffic: Any) -> SimConfig:
    return SimConfig(seed=3, users=120, speed=0, start=START, mount_surfaces=False,
                     traffic={"enabled": True, **traffic})


async def test_agreement_checker_passes_every_day_of_a_simulated_week() -> None:
    async with run_simulator(week_config()) as handle:
        changed: Counter[int] = Counter()
        for _ in range(7):
            await handle.admin.advance(86400)
            verdict = await handle.admin.agreement()
            assert verdict["ok"], verdict["problems"]
            assert verdict["checked"]["mail_log"] > 0 and verdict["checked"]["login_log"] > 0
        ops = await handle.admin.truth("operation_log")
        changed.update(r["record"]["type"] for r in ops)
        # the week really changed the address book: users added, deleted, disabled; edits
        assert changed[19] and changed[20] and changed[22] and changed[23]
        directory = await handle.admin.directory()
        present = {u["userid"] for u in directory["users"]}
        last: dict[str, bool] = {}  # the last add/delete/restore of each user says whether it exists now
        for r in sorted(ops, key=lambda r: r["time"]):
            rec = r["record"]
            if rec["type"] in (19, 25) or (rec["type"] == 20 and rec.get("remark") == "1"):
                last[rec["operand"]] = True
            elif rec["type"] == 20:
                last[rec["operand"]] = False
        assert last and all((u in present) == exists for u, exists in last.items())
        disabled = {r["record"]["operand"] for r in ops if r["record"]["type"] == 22}
        mail = await handle.admin.truth("mail_log")
        for userid in disabled - {r["record"]["operand"] for r in ops if r["record"]["type"] in (19, 21)}:
            when = max(r["time"] for r in ops if r["record"]["operand"] == userid and r["record"]["type"] == 22)
            assert not [m for m in mail if m["time"] > when and m["record"]["sender"] == userid]


async def test_agreement_checker_finds_a_directory_change_the_log_does_not_explain(sim: SimulatorHandle) -> None:
    assert (await sim.admin.agreement())["ok"]
    sim.sim.corp.directory.users.pop("admin@corp.example.com")  # behind the log's back
    verdict = await sim.admin.agreement()
    assert not verdict["ok"]
    assert any("admin@corp.example.com" in p for p in verdict["problems"])


def test_agreement_checker_finds_mail_from_a_deleted_user() -> None:
    sim = Simulator(week_config(enabled=False))
    userid = next(u for u in sim.corp.directory.users if u.startswith(("wang", "li", "zhang", "chen")))
    sim.corp.directory.delete_user(userid)  # logged as type 20 now
    later = int(sim.clock.now()) + 60
    sim.clock.advance(120)
    sim.corp.logs.add("mail_log", {"mailtype": 1, "sender": userid, "receiver": "x@qq.com", "subject": "s",
                                   "time": later, "status": 3})
    verdict = check_agreement(sim.corp, sim.clock.now())
    assert not verdict["ok"] and f"{userid} is absent then" in verdict["problems"][0]


async def test_generate_day_changes_the_directory_and_stays_in_agreement() -> None:
    config = SimConfig(seed=11, users=80, speed=0, start="2026-01-07T12:00:00+08:00", mount_surfaces=False,
                       traffic={"enabled": False})
    async with run_simulator(config) as handle:
        before = {u["userid"] for u in (await handle.admin.directory())["users"]}
        body = await handle.admin.generate("2026-01-05", mail_records=2000, login_records=300,
                                           operation_records=600)
        assert body["generated"]["operation_log"] == 600 and body["generated"]["directory_changes"] > 0
        after = {u["userid"] for u in (await handle.admin.directory())["users"]}
        assert before != after
        today = await handle.admin.generate("2026-01-07", mail_records=300, operation_records=200)
        assert today["generated"]["operation_log"] == 200
        for _ in range(2):  # half of today's changes are still ahead of the clock, then all happened
            verdict = await handle.admin.agreement()
            assert verdict["ok"], verdict["problems"]
            await handle.admin.advance(43200)


def test_rare_admin_events_are_rare_and_configurable() -> None:
    assert abs(sum(OPERATION_RATES.values()) - 40.0) < 1e-9
    assert all(OPERATION_RATES[t] <= 1 / 365 for t in RARE)  # at most about once a year each
    sim = Simulator(SimConfig(seed=3, users=20, speed=0, start=START, mount_surfaces=False,
                              traffic={"enabled": True}))
    sim.clock.advance(28 * 86400)
    sim.tick()
    ops = [e.record for d in sim.corp.logs.dates("operation_log") for e in sim.corp.logs.entries("operation_log", [d])]
    kinds = Counter(r["type"] for r in ops)
    assert sum(kinds[t] for t in RARE) <= 3, kinds  # four weeks: ~1 expected among all of them together
    assert kinds[1] > 500
    assert "administrator" in {r["operator"] for r in ops}
    frequent = Simulator(week_config(operation_rates={41: 40.0}))
    frequent.clock.advance(86400)
    frequent.tick()
    assert any(e.record["type"] == 41 for d in frequent.corp.logs.dates("operation_log")
               for e in frequent.corp.logs.entries("operation_log", [d]))
