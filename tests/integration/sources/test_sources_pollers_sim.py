"""Pollers against the simulator over TCP and the real broker: the raw topics hold exactly the ground truth."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

import pytest

from pipeline.exmail import UserOptionType
from pipeline.exmail.models import UserUpdate
from pipeline.ingest import Ingest
from pipeline.sources._runtime import Poller

pytestmark = pytest.mark.integration

LOG_KINDS = ("mail_log", "login_log", "operation_log", "batchjob_log")


async def until_ok(poller: Poller, attempts: int = 40) -> None:
    for _ in range(attempts):
        if await poller.run_once():
            return
    raise AssertionError(f"{poller} kept failing")


async def poll_everything(ingest: Ingest, kinds: tuple[str, ...] = LOG_KINDS) -> None:
    for corp in ingest.corps.values():
        directory = corp.pollers["directory"]
        if not corp.runtime.directory.ready.is_set():
            await directory.prepare()
        await until_ok(directory)
        for kind in kinds:
            await until_ok(corp.pollers[kind])


async def prepare(ingest: Ingest, kinds: tuple[str, ...] = LOG_KINDS) -> None:
    await ingest.open()
    for corp in ingest.corps.values():
        for kind in kinds:
            await corp.pollers[kind].prepare()


async def truth_ids(handle: Any, kind: str, dates: list[str]) -> Counter[str]:
    ids: Counter[str] = Counter()
    for d in dates:
        for rec in await handle.admin.truth(kind, date=d, visible_only=True):
            ids[rec["id"]] += 1
    return ids


def dates_between(first: str, last: str) -> list[str]:
    a, b = date.fromisoformat(first), date.fromisoformat(last)
    return [(a + timedelta(days=i)).isoformat() for i in range((b - a).days + 1)]


async def assert_topics_match_truth(handle: Any, read_topic: Any, prefix: str, dates: list[str]) -> dict[str, int]:
    sizes = {}
    for kind in LOG_KINDS:
        got = Counter(e["id"] for e in await read_topic(f"{prefix}exmail.raw.{kind}"))
        want = await truth_ids(handle, kind, dates)
        missing = set(want) - set(got)
        extra = set(got) - set(want)
        dupes = {i: n for i, n in got.items() if n > 1}
        assert not missing and not extra and not dupes, (
            f"{kind}: {len(missing)} missing, {len(extra)} unexpected, {len(dupes)} duplicated")
        sizes[kind] = sum(got.values())
    return sizes


async def test_a_day_of_traffic_lands_exactly_once(sim: Any, make_config: Any, read_topic: Any, topic_prefix: str,
                                                   day: str, today: str, validate_raw: Any) -> None:
    generated = await sim.admin.generate(day, mail_records=3000, login_records=800, operation_records=60,
                                         batchjob_records=12, late_fraction=0.2)
    assert generated["generated"]["mail_log"] == 3000
    await sim.admin.generate(today, mail_records=300, login_records=100, operation_records=10, batchjob_records=2)
    config = make_config(sim, streams=["directory", *LOG_KINDS])
    ingest = Ingest(config, clock=sim.sim.clock)
    try:
        await prepare(ingest)
        await poll_everything(ingest)  # at 01:00: late records of `day` not visible yet
        dates = dates_between((date.fromisoformat(today) - timedelta(days=1)).isoformat(), today)
        early = await assert_topics_match_truth(sim, read_topic, topic_prefix, dates)

        await sim.admin.set_clock(f"{today}T10:00:00+08:00")  # every late record of `day` is visible now
        await poll_everything(ingest)
        sizes = await assert_topics_match_truth(sim, read_topic, topic_prefix, dates)
        assert sizes["mail_log"] > early["mail_log"] >= 3000 * 0.7
        all_of_day = await sim.admin.truth("mail_log", date=day)
        assert sum(1 for r in all_of_day if r["visible"]) == len(all_of_day) == 3000
        assert sizes["login_log"] >= 800

        corp = next(iter(ingest.corps.values()))
        assert corp.pollers["mail_log"].cursor.closed_through == date.fromisoformat(day)  # type: ignore[attr-defined]
        await poll_everything(ingest)  # polling again adds nothing
        assert await assert_topics_match_truth(sim, read_topic, topic_prefix, dates) == sizes
        sample = (await read_topic(f"{topic_prefix}exmail.raw.login_log"))[:50]
        for envelope in sample:
            validate_raw(envelope)
    finally:
        await ingest.close()


async def test_faults_delay_but_do_not_change_the_result(sim: Any, make_config: Any, read_topic: Any,
                                                         topic_prefix: str, day: str, today: str) -> None:
    await sim.admin.generate(day, mail_records=3000, login_records=600, operation_records=40, batchjob_records=8)
    await sim.admin.set_clock(f"{today}T10:00:00+08:00")
    await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="log/*", probability=0.1)
    await sim.admin.add_fault(kind="http_status", status=503, endpoint="*", probability=0.1)
    await sim.admin.add_fault(kind="errcode", errcode=45009, endpoint="log/login", count=150, id="burst")
    config = make_config(sim, streams=["directory", *LOG_KINDS])
    ingest = Ingest(config, clock=sim.sim.clock)
    try:
        await prepare(ingest)
        await poll_everything(ingest)
        dates = dates_between(day, today)
        sizes = await assert_topics_match_truth(sim, read_topic, topic_prefix, dates)
        assert sizes["mail_log"] == 3000
        fired = (await sim.admin.stats())["faults_fired"]
        assert fired["burst"] == 150 and sum(fired.values()) > 150
        errors = await read_topic(f"{topic_prefix}exmail.raw.pipeline_error")
        assert errors, "a 45009 burst longer than the client's retry budget must surface as pipeline_error"
        assert all(e["data"]["stream"] == "login_log" for e in errors)
        assert any(e["data"]["errcode"] == 45009 for e in errors)
        await poll_everything(ingest)
        assert await assert_topics_match_truth(sim, read_topic, topic_prefix, dates) == sizes
    finally:
        await ingest.close()


async def test_mail_status_directory_and_options(sim: Any, make_config: Any, read_topic: Any, topic_prefix: str,
                                                 day: str, today: str, validate_raw: Any) -> None:
    await sim.admin.generate(day, mail_records=500)
    await sim.admin.set_clock(f"{today}T10:00:00+08:00")
    config = make_config(sim, streams=["directory", "mail_status", "options"])
    ingest = Ingest(config, clock=sim.sim.clock)
    try:
        await ingest.open()
        corp = next(iter(ingest.corps.values()))
        for stream in ("directory", "mail_status", "options"):
            await corp.pollers[stream].prepare()
            await until_ok(corp.pollers[stream])
        statuses = await read_topic(f"{topic_prefix}exmail.raw.mail_status")
        want = await sim.admin.truth("mail_status", date=day)
        assert {e["id"] for e in statuses if e["data"]["context"]["date"] == day} == {r["id"] for r in want}
        users = (await sim.admin.directory())["users"]
        assert set(corp.runtime.directory.users) == {u["userid"] for u in users}
        assert any("/" in p for u in corp.runtime.directory.users.values() for p in u["department_paths"])
        options = await read_topic(f"{topic_prefix}exmail.raw.options")
        assert {e["data"]["userid"] for e in options} == set(corp.runtime.directory.users)
        assert await read_topic(f"{topic_prefix}exmail.raw.directory") == []  # the first snapshot is a baseline

        victim = sorted(u["userid"] for u in users if u["enable"] == 1)[3]
        client = corp.runtime.client
        await client.user_update(UserUpdate(userid=victim, enable=0, position="Leaver"))
        await client.useroption_update(victim, {UserOptionType.POP_SMTP: "0", UserOptionType.IMAP_SMTP: "0"})
        await until_ok(corp.pollers["directory"])
        await until_ok(corp.pollers["options"])
        [event] = await read_topic(f"{topic_prefix}exmail.raw.directory")
        validate_raw(event)
        assert (event["data"]["change"], event["data"]["object_id"]) == ("disabled", victim)
        assert event["data"]["changed_fields"] == ["enable", "position"]
        changed = [e for e in await read_topic(f"{topic_prefix}exmail.raw.options") if e["data"]["previous"]]
        assert [e["data"]["userid"] for e in changed] == [victim]
        assert changed[0]["data"]["changed"] == {"2": {"from": "1", "to": "0"}, "3": {"from": "1", "to": "0"}}
    finally:
        await ingest.close()
