"""A worker killed mid-action and restarted (a new service over the same ledger store) neither repeats a
completed step nor loses a pending action or record."""

from __future__ import annotations

import orjson
import pytest

from pipeline.actions import LedgerState

DOMAIN = "corp.example.com"
NEW = f"new.hire@{DOMAIN}"


def _record_ids(harness) -> list[str]:
    return [r.id for r in harness.output.records]


async def test_crash_after_create_before_password_delivery(harness, crash):
    harness.fake.fault("user/create", crash(), when="after")
    with pytest.raises(crash):
        await harness.service().handle_hr(
            harness.hr("joiner", NEW, name="New Hire", department_path="R&D/Mail")
        )
    assert NEW in harness.fake.users and not harness.drop_dir.exists()

    restarted = harness.service()
    [interrupted] = await restarted.due()
    assert interrupted.state is LedgerState.EXECUTING
    assert [c.outcome for c in interrupted.calls if c.endpoint == "user/create"] == ["sent"]
    [done] = await restarted.run_due()
    assert done.state is LedgerState.DONE and done.result == "changed"
    assert harness.fake.write_endpoints() == ["department/create", "user/create", "user/update"]
    reset = harness.fake.writes[-1][1]
    assert reset["password"] == "<password>" and reset["cpwd_login"] == 1
    delivered = orjson.loads((harness.drop_dir / f"{done.id}.json").read_bytes())
    assert delivered["password"] == harness.fake.passwords[-1] != harness.fake.passwords[0]
    assert [c.outcome for c in done.calls if c.endpoint == "user/create"] == ["unknown"]
    assert harness.statuses(done.id) == ["requested", "executed"]
    assert await restarted.run_due() == []


async def test_crash_after_department_create_does_not_create_it_twice(harness, crash):
    harness.fake.fault("department/create", crash(), when="after")
    with pytest.raises(crash):
        await harness.service().handle_hr(harness.hr("joiner", NEW, name="New Hire", department_path="Ops"))
    [done] = await harness.service().run_due()
    assert done.state is LedgerState.DONE
    assert harness.fake.write_endpoints() == ["department/create", "user/create"]
    assert harness.fake.path_of(harness.fake.users[NEW]["department"][0]) == "Ops"


async def test_crash_after_disable_converges_without_repeating(harness, crash):
    harness.fake.fault("user/update", crash(), when="after")
    target = f"user1@{DOMAIN}"
    with pytest.raises(crash):
        await harness.service().handle_alert(harness.alert("login_hostile_ip", target))
    assert harness.fake.users[target]["enable"] == 0
    restarted = harness.service()
    [done] = await restarted.run_due()
    assert done.state is LedgerState.DONE and done.result == "changed" and done.undoable
    assert harness.fake.write_endpoints() == ["user/update"]
    assert harness.statuses(done.id) == ["requested", "executed"]
    await restarted.undo(done.id, by="ops")
    assert harness.fake.users[target]["enable"] == 1


async def test_crash_before_a_call_loses_nothing(harness, crash):
    harness.fake.fault("user/update", crash(), when="before")
    target = f"user2@{DOMAIN}"
    with pytest.raises(crash):
        await harness.service().handle_alert(harness.alert("login_hostile_ip", target))
    assert harness.fake.users[target]["enable"] == 1
    [done] = await harness.service().run_due()
    assert done.state is LedgerState.DONE and harness.fake.users[target]["enable"] == 0
    assert harness.fake.write_endpoints() == ["user/update"]


async def test_crash_in_the_middle_of_a_leaver(harness, crash):
    target = f"user1@{DOMAIN}"
    harness.fake.fault("group/update", crash(), when="before")
    with pytest.raises(crash):
        await harness.service().handle_hr(harness.hr("leaver", target))
    assert harness.fake.users[target]["enable"] == 0
    assert target in harness.fake.groups[f"team@{DOMAIN}"]["userlist"]
    restarted = harness.service()
    [done] = await restarted.run_due()
    assert done.state is LedgerState.DONE and done.before == {
        "enable": 1,
        "groups": {f"team@{DOMAIN}": {"userlist": [target, f"user2@{DOMAIN}"]}},
    }
    assert harness.fake.write_endpoints() == ["user/update", "group/update"]
    assert target not in harness.fake.groups[f"team@{DOMAIN}"]["userlist"]
    # the scheduled delete survives another restart and runs once, after the grace period
    harness.clock.advance(7 * 86400 + 1)
    [deleted] = await harness.service().run_due()
    assert deleted.kind.value == "leaver_delete" and target not in harness.fake.users
    assert await harness.service().run_due() == []
    assert harness.fake.write_endpoints() == ["user/update", "group/update", "user/delete"]


async def test_crash_while_emitting_records_loses_none(harness, crash):
    calls = {"n": 0}
    original = harness.output.record

    async def flaky(key, envelope):
        calls["n"] += 1
        if calls["n"] == 2:
            raise crash()
        await original(key, envelope)

    harness.output.record = flaky  # type: ignore[method-assign]
    with pytest.raises(crash):
        await harness.service().handle_alert(harness.alert("login_hostile_ip", f"user3@{DOMAIN}"))
    assert harness.statuses() == ["requested"]
    restarted = harness.service()
    [flushed] = await restarted.run_due()
    assert flushed.state is LedgerState.DONE and not flushed.outbox
    assert harness.statuses() == ["requested", "executed"]
    assert len(set(_record_ids(harness))) == 2
    assert harness.fake.write_endpoints() == ["user/update"]


async def test_replay_after_restart_is_a_no_op(harness):
    env = harness.hr("joiner", NEW, name="New Hire", department_path="R&D")
    first = await harness.service().handle_hr(env)
    writes, records = list(harness.fake.writes), list(harness.output.records)
    again = await harness.service().handle_hr(env)
    assert again.id == first.id and again.state is LedgerState.DONE
    assert harness.fake.writes == writes and harness.output.records == records
