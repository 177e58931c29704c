"""HR lifecycle: joiner / mover / leaver against the in-memory Exmail, replays, conflicts and rails."""

from __future__ import annotations

import os
import stat

import orjson
import pytest

from pipeline.actions import ActionInputError, LedgerState, RecordStatus
from pipeline.envelope import utc_iso
from pipeline.exmail import TransportError

DOMAIN = "corp.example.com"
NEW = f"new.hire@{DOMAIN}"


async def test_joiner_creates_account_in_new_department_and_delivers_password(harness):
    service = harness.service()
    entry = await service.handle_hr(
        harness.hr(
            "joiner",
            NEW,
            name="New Hire",
            department_path="R&D/Mail team",
            position="Engineer",
            mobile="13800000000",
            aliases=[f"nh@{DOMAIN}"],
        )
    )
    assert entry.state is LedgerState.DONE and entry.result == "changed"
    fake = harness.fake
    assert fake.write_endpoints() == ["department/create", "user/create"]
    user = fake.users[NEW]
    assert fake.path_of(user["department"][0]) == "R&D/Mail team"
    assert (user["name"], user["position"], user["mobile"], user["slaves"]) == (
        "New Hire",
        "Engineer",
        "13800000000",
        [f"nh@{DOMAIN}"],
    )
    assert user["cpwd_login"] == 1 and user["extid"] == "E1001"
    # the password went to the drop file, and only there
    drop = harness.drop_dir / f"{entry.id}.json"
    assert stat.S_IMODE(os.stat(drop).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(harness.drop_dir).st_mode) == 0o700
    delivered = orjson.loads(drop.read_bytes())
    assert delivered["userid"] == NEW and delivered["password"] == fake.passwords[-1]
    assert harness.statuses(entry.id) == ["requested", "executed"]
    create = next(c for c in entry.calls if c.endpoint == "user/create")
    assert create.params["password"] == "***" and create.outcome == "ok"


async def test_joiner_mover_leaver_sequence_then_replay_changes_nothing(harness):
    fake, service = harness.fake, harness.service()
    joiner = harness.hr("joiner", NEW, request_id="R1", name="New Hire", department_path="R&D")
    mover = harness.hr("mover", NEW, request_id="R2", department_path="Sales", position="Account manager")
    leaver = harness.hr("leaver", NEW, request_id="R3")
    await service.handle_hr(joiner)
    fake.groups[f"team@{DOMAIN}"]["userlist"].append(NEW)
    moved = await service.handle_hr(mover)
    assert fake.path_of(fake.users[NEW]["department"][0]) == "Sales"
    assert fake.users[NEW]["position"] == "Account manager"
    rd = fake.users[f"user1@{DOMAIN}"]["department"]
    assert moved.before == {"department": rd, "position": ""}
    left = await service.handle_hr(leaver)
    assert fake.users[NEW]["enable"] == 0
    assert NEW not in fake.groups[f"team@{DOMAIN}"]["userlist"]
    assert "delete scheduled" in left.detail
    writes, records, state = list(fake.writes), len(harness.output.records), fake.snapshot()

    for env in (joiner, mover, leaver):
        again = await service.handle_hr(env)
        assert again.state is LedgerState.DONE
    restarted = harness.service()
    for env in (joiner, mover, leaver):
        await restarted.handle_hr(env)
    assert fake.writes == writes and len(harness.output.records) == records and fake.snapshot() == state


async def test_leaver_deletes_after_the_grace_period(harness):
    service = harness.service()
    userid = f"user1@{DOMAIN}"
    leaver = await service.handle_hr(harness.hr("leaver", userid))
    assert harness.fake.users[userid]["enable"] == 0
    assert await service.run_due() == []
    harness.clock.advance(7 * 86400 - 1)
    assert await service.run_due() == []
    harness.clock.advance(2)
    [deleted] = await service.run_due()
    assert deleted.kind.value == "leaver_delete" and deleted.state is LedgerState.DONE
    assert userid not in harness.fake.users
    assert deleted.request.params["leaver_action"] == leaver.id
    assert harness.fake.write_endpoints() == ["user/update", "group/update", "user/delete"]
    assert await service.run_due(harness.clock.now + 86400 * 30) == []


async def test_leaver_delete_skipped_when_account_was_enabled_again(harness):
    service = harness.service()
    userid = f"user2@{DOMAIN}"
    await service.handle_hr(harness.hr("leaver", userid))
    harness.fake.users[userid]["enable"] = 1
    harness.clock.advance(8 * 86400)
    [delete] = await service.run_due()
    assert delete.state is LedgerState.SKIPPED and "enabled again" in delete.detail
    assert userid in harness.fake.users


async def test_rejoin_cancels_the_pending_delete_and_reenables(harness):
    service = harness.service()
    userid = f"user3@{DOMAIN}"
    await service.handle_hr(harness.hr("leaver", userid, request_id="L1", employee_id="E3"))
    harness.fake.users[userid]["extid"] = "E3"
    rejoin = await service.handle_hr(
        harness.hr("joiner", userid, request_id="J2", employee_id="E3", name="User 3", department_path="R&D")
    )
    assert rejoin.state is LedgerState.DONE
    assert harness.fake.users[userid]["enable"] == 1
    assert harness.fake.passwords, "a re-enabled account gets a new initial password"
    harness.clock.advance(8 * 86400)
    assert await service.run_due() == []
    assert userid in harness.fake.users


async def test_unknown_department_fails_clearly_with_an_alert(harness):
    service = harness.service(hr={"create_departments": False})
    entry = await service.handle_hr(harness.hr("joiner", NEW, name="New", department_path="R&D/Nowhere"))
    assert entry.state is LedgerState.FAILED and entry.errcode == 60003
    assert (
        "unknown department 'R&D/Nowhere'" in entry.error
        and "'Nowhere' does not exist under R&D" in entry.error
    )
    assert NEW not in harness.fake.users and harness.fake.writes == []
    [alert] = harness.output.alerts
    assert alert.data["labels"]["alertname"] == "action_failed" and alert.data["action"] is None
    assert "R&D/Nowhere" in alert.data["annotations"]["summary"]
    assert harness.statuses(entry.id) == ["requested", "failed"]


@pytest.mark.parametrize(
    ("setup", "errcode"),
    [
        ("user", 60102),
        ("alias", 600001),
        ("group", 600002),
    ],
)
async def test_conflicting_userid_fails_with_the_errcode(harness, setup, errcode):
    fake = harness.fake
    if setup == "user":
        fake.add_user(NEW, "Somebody Else", extid="E9999")
    elif setup == "alias":
        fake.users[f"user4@{DOMAIN}"]["slaves"] = [NEW]
        fake.aliases[NEW] = f"user4@{DOMAIN}"
    else:
        fake.add_group(NEW, [f"user1@{DOMAIN}"])
    entry = await harness.service().handle_hr(
        harness.hr("joiner", NEW, name="New Hire", department_path="R&D")
    )
    assert entry.state is LedgerState.FAILED and entry.errcode == errcode
    assert harness.output.alerts[-1].data["labels"]["action_id"] == entry.id
    assert fake.writes == []
    assert str(errcode) in harness.output.alerts[-1].data["annotations"]["summary"]


async def test_existing_account_with_same_attributes_is_left_alone(harness):
    harness.fake.add_user(NEW, "New Hire", harness.fake.users[f"user1@{DOMAIN}"]["department"][0])
    entry = await harness.service().handle_hr(
        harness.hr("joiner", NEW, name="New Hire", department_path="R&D")
    )
    assert entry.state is LedgerState.DONE and entry.result == "unchanged"
    assert harness.fake.writes == []


async def test_joiner_without_secure_channel_fails_before_creating(harness):
    service = harness.service(hr={"delivery": None})
    entry = await service.handle_hr(harness.hr("joiner", NEW, name="New Hire"))
    assert entry.state is LedgerState.FAILED and "secure channel" in entry.error
    assert NEW not in harness.fake.users


async def test_mover_of_unknown_account_fails(harness):
    entry = await harness.service().handle_hr(harness.hr("mover", NEW, department_path="Sales"))
    assert entry.state is LedgerState.FAILED and entry.errcode == 60111


async def test_leaver_of_an_administrator_is_skipped(harness):
    entry = await harness.service().handle_hr(harness.hr("leaver", f"admin@{DOMAIN}"))
    assert entry.state is LedgerState.SKIPPED and "administrator" in entry.detail
    assert harness.fake.writes == []
    assert harness.output.alerts[-1].data["labels"]["alertname"] == "action_skipped"


async def test_hr_dry_run_plans_without_changing(harness):
    service = harness.service(dry_run=True)
    entry = await service.handle_hr(
        harness.hr("joiner", NEW, name="New Hire", department_path="R&D/Mail team")
    )
    assert entry.state is LedgerState.DRY_RUN and entry.result == "would_change"
    assert harness.fake.writes == [] and NEW not in harness.fake.users and not harness.drop_dir.exists()
    planned = [(c.endpoint, c.outcome) for c in entry.calls if c.kind != "read"]
    assert planned == [
        ("department/create", "planned"),
        ("user/create", "planned"),
        ("channel:file", "planned"),
    ]
    assert harness.statuses(entry.id) == [RecordStatus.REQUESTED.value, RecordStatus.DRY_RUN.value]


async def test_future_effective_date_is_scheduled(harness):
    service = harness.service()
    entry = await service.handle_hr(
        harness.hr(
            "mover",
            f"user5@{DOMAIN}",
            department_path="Sales",
            effective_at=utc_iso(harness.clock.now + 3600),
        )
    )
    assert entry.state is LedgerState.SCHEDULED and harness.fake.writes == []
    harness.clock.advance(3600)
    [done] = await service.run_due()
    assert done.state is LedgerState.DONE and harness.fake.write_endpoints() == ["user/update"]


async def test_transient_failure_is_retried_later(harness):
    harness.fake.fault("user/update", TransportError(None, "timeout", "user/update", reason="timeout"))
    service = harness.service()
    entry = await service.handle_hr(harness.hr("leaver", f"user6@{DOMAIN}"))
    assert entry.state is LedgerState.SCHEDULED and entry.attempts == 1 and "retrying" in entry.error
    assert await service.run_due() == []
    harness.clock.advance(60)
    [done] = await service.run_due()
    assert done.state is LedgerState.DONE and harness.fake.users[f"user6@{DOMAIN}"]["enable"] == 0


@pytest.mark.parametrize(
    "data",
    [
        {"event": "hired"},
        {"userid": "no-at-sign"},
        {"request_id": ""},
        {"aliases": "x@y.z"},
        {"effective_at": "tomorrow"},
    ],
)
async def test_bad_hr_records_raise_input_errors(harness, data):
    env = harness.hr("joiner", NEW, name="N")
    env.data.update(data)
    with pytest.raises(ActionInputError):
        await harness.service().handle_hr(env)


async def test_wrong_schema_is_an_input_error(harness):
    with pytest.raises(ActionInputError, match="expected schema"):
        await harness.service().handle_hr(harness.alert("x", NEW))
