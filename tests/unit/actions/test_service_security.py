"""Security responses named by alerts, drift remediation, and the rails: dry run, allow-list, admins, hourly
limits, routes, undo."""

from __future__ import annotations

import asyncio

import pytest

from pipeline.actions import ActionInputError, ActionsConfig, ActionStateError, LedgerState

DOMAIN = "corp.example.com"


async def test_dry_run_is_the_default_and_changes_nothing(harness):
    service = harness.service(dry_run=True)
    entry = await service.handle_alert(harness.alert("login_hostile_ip", f"user1@{DOMAIN}"))
    assert entry.state is LedgerState.DRY_RUN and entry.result == "would_change"
    assert harness.fake.writes == [] and harness.fake.users[f"user1@{DOMAIN}"]["enable"] == 1
    [planned] = [c for c in entry.calls if c.kind == "write"]
    assert (planned.endpoint, planned.params, planned.outcome) == (
        "user/update",
        {"userid": f"user1@{DOMAIN}", "enable": 0},
        "planned",
    )
    assert harness.statuses() == ["requested", "dry_run"]
    dry = harness.output.records[-1].data
    assert dry["dry_run"] is True and dry["calls"][-1]["outcome"] == "planned"


async def test_config_default_is_dry_run():
    assert ActionsConfig().dry_run is True and ActionsConfig().drift.remediate is False


async def test_hostile_login_disables_exactly_the_target_and_undo_restores(harness):
    service = harness.service()
    target = f"user1@{DOMAIN}"
    before = harness.fake.snapshot()
    entry = await service.handle_alert(harness.alert("login_hostile_ip", target))
    assert entry.state is LedgerState.DONE and entry.result == "changed"
    assert harness.fake.writes == [("user/update", {"userid": target, "enable": 0})]
    after = harness.fake.snapshot()
    after["users"][target]["enable"] = 1
    assert after == before
    assert entry.request.requested_by == "rule:login_hostile_ip"
    assert entry.request.params["alert"]["route"] == "hostile"

    undone = await service.undo(entry.id, by="alice", reason="false positive")
    assert undone.state is LedgerState.UNDONE and harness.fake.users[target]["enable"] == 1
    assert harness.fake.snapshot() == before
    record = harness.output.records[-1].data
    assert record["status"] == "undone" and record["undo"]["requested_by"] == "alice"
    assert [c["endpoint"] for c in record["calls"] if c["kind"] == "write"] == ["user/update"]
    assert (await service.undo(entry.id, by="alice")).state is LedgerState.UNDONE


async def test_same_alert_twice_acts_once_and_new_episode_acts_again(harness):
    service = harness.service()
    target = f"user1@{DOMAIN}"
    first = await service.handle_alert(harness.alert("login_hostile_ip", target, starts_at=harness.clock.now))
    again = await service.handle_alert(harness.alert("login_hostile_ip", target, starts_at=harness.clock.now))
    assert again.id == first.id and len(harness.fake.writes) == 1
    await service.undo(first.id, by="bob")
    later = await service.handle_alert(
        harness.alert("login_hostile_ip", target, starts_at=harness.clock.now + 900)
    )
    assert later.id != first.id and harness.fake.users[target]["enable"] == 0


async def test_resolved_alerts_and_alerts_without_action_do_nothing(harness):
    service = harness.service()
    assert (
        await service.handle_alert(harness.alert("login_hostile_ip", f"user1@{DOMAIN}", status="resolved"))
        is None
    )
    assert (
        await service.handle_alert(harness.alert("login_hostile_ip", f"user1@{DOMAIN}", action=None)) is None
    )
    assert harness.output.records == []


@pytest.mark.parametrize("target", [f"vip@{DOMAIN}", "someone@partner.example.org", f"admin@{DOMAIN}"])
async def test_allow_list_and_administrators_are_never_touched(harness, target):
    harness.fake.add_user(target, "Protected")
    entry = await harness.service().handle_alert(harness.alert("login_hostile_ip", target))
    assert entry.state is LedgerState.SKIPPED
    assert ("allow-listed" in entry.detail) or ("administrator" in entry.detail)
    assert harness.fake.writes == [] and harness.statuses(entry.id) == ["requested", "skipped"]


async def test_hourly_limit_counts_distinct_accounts(harness):
    service = harness.service(hourly_limits={"disable_account": 3})
    results = []
    for i in range(1, 6):
        results.append(await service.handle_alert(harness.alert("login_hostile_ip", f"user{i}@{DOMAIN}")))
    assert [r.state for r in results] == [LedgerState.DONE] * 3 + [LedgerState.SKIPPED] * 2
    assert "hourly limit" in results[3].detail
    assert [harness.fake.users[f"user{i}@{DOMAIN}"]["enable"] for i in range(1, 6)] == [0, 0, 0, 1, 1]
    assert any(a.data["labels"]["alertname"] == "action_skipped" for a in harness.output.alerts)
    # the same account again within the hour is not a new account
    again = await service.handle_alert(
        harness.alert("login_hostile_ip", f"user1@{DOMAIN}", starts_at=harness.clock.now + 60)
    )
    assert again.state is LedgerState.DONE and again.result == "unchanged"
    # an hour later the window has room again
    harness.clock.advance(3601)
    later = await service.handle_alert(harness.alert("login_hostile_ip", f"user4@{DOMAIN}"))
    assert later.state is LedgerState.DONE and harness.fake.users[f"user4@{DOMAIN}"]["enable"] == 0


async def test_no_route_means_skipped(harness):
    entry = await harness.service().handle_alert(harness.alert("some_other_rule", f"user1@{DOMAIN}"))
    assert entry.state is LedgerState.SKIPPED and "no actions.security route" in entry.detail
    assert harness.fake.writes == []


async def test_route_only_allows_its_actions(harness):
    entry = await harness.service().handle_alert(
        harness.alert("login_hostile_ip", f"user1@{DOMAIN}", action="disable_imap")
    )
    assert entry.state is LedgerState.SKIPPED


@pytest.mark.parametrize(
    ("action", "option", "value", "previous"),
    [
        ("disable_imap", 2, "0", "1"),
        ("disable_pop", 3, "0", "1"),
        ("force_secure_login", 1, "1", "0"),
    ],
)
async def test_option_actions_and_their_undo(harness, action, option, value, previous):
    service = harness.service()
    target = f"user2@{DOMAIN}"
    entry = await service.handle_alert(harness.alert("imap_abuse", target, action=action))
    assert entry.state is LedgerState.DONE and harness.fake.options[target][option] == value
    assert entry.before == {"options": {str(option): previous}}
    again = await service.handle_alert(
        harness.alert("imap_abuse", target, action=action, starts_at=harness.clock.now + 10)
    )
    assert again.result == "unchanged"
    await service.undo(entry.id, by="ops")
    assert harness.fake.options[target][option] == previous


async def test_unknown_action_or_missing_target_is_an_input_error(harness):
    service = harness.service()
    with pytest.raises(ActionInputError, match="not an action"):
        await service.handle_alert(harness.alert("login_hostile_ip", f"user1@{DOMAIN}", action="format_disk"))
    env = harness.alert("login_hostile_ip", f"user1@{DOMAIN}")
    del env.data["labels"]["user"]
    with pytest.raises(ActionInputError, match="no account"):
        await service.handle_alert(env)


async def test_disable_of_unknown_account_fails_with_alert(harness):
    entry = await harness.service().handle_alert(harness.alert("login_hostile_ip", f"ghost@{DOMAIN}"))
    assert entry.state is LedgerState.FAILED and entry.errcode == 60111
    assert harness.output.alerts[-1].data["labels"]["alertname"] == "action_failed"


async def test_undo_refuses_dry_runs_and_unchanged_actions(harness):
    dry = await harness.service(dry_run=True).handle_alert(
        harness.alert("login_hostile_ip", f"user1@{DOMAIN}")
    )
    with pytest.raises(ActionStateError, match="dry run"):
        await harness.service().undo(dry.id, by="x")
    harness.fake.users[f"user2@{DOMAIN}"]["enable"] = 0
    noop = await harness.service().handle_alert(harness.alert("login_hostile_ip", f"user2@{DOMAIN}"))
    with pytest.raises(ActionStateError, match="changed nothing"):
        await harness.service().undo(noop.id, by="x")


async def test_undo_of_a_leaver_restores_groups_and_cancels_the_delete(harness):
    service = harness.service()
    target = f"user1@{DOMAIN}"
    leaver = await service.handle_hr(harness.hr("leaver", target))
    assert target not in harness.fake.groups[f"team@{DOMAIN}"]["userlist"]
    await service.undo(leaver.id, by="hr-admin", reason="wrong person")
    assert harness.fake.users[target]["enable"] == 1
    assert target in harness.fake.groups[f"team@{DOMAIN}"]["userlist"]
    harness.clock.advance(30 * 86400)
    assert await service.run_due() == []
    assert target in harness.fake.users


async def test_drift_is_remediated_when_enabled(harness):
    service = harness.service()
    target = f"user3@{DOMAIN}"
    env = harness.options(
        target, [{"type": 2, "desired": "0", "actual": "1"}, {"type": 4, "desired": "1", "actual": "0"}]
    )
    entry = await service.handle_options(env)
    assert entry.kind.value == "remediate_drift" and entry.state is LedgerState.DONE
    assert harness.fake.options[target][2] == "0" and harness.fake.options[target][4] == "0"
    assert entry.request.requested_by == "policy:useroption"
    assert (
        await harness.service(drift={"remediate": False}).handle_options(
            harness.options(target, [{"type": 3, "desired": "0", "actual": "1"}])
        )
        is None
    )
    assert await service.handle_options(harness.options(target, [])) is None


async def test_drift_respects_admins(harness):
    entry = await harness.service().handle_options(
        harness.options(f"admin@{DOMAIN}", [{"type": 1, "desired": "1", "actual": "0"}])
    )
    assert entry.state is LedgerState.SKIPPED and harness.fake.writes == []


async def test_concurrent_deliveries_of_one_alert_act_once(harness):
    service = harness.service()
    env = harness.alert("login_hostile_ip", f"user7@{DOMAIN}")
    first, second = await asyncio.gather(service.handle_alert(env), service.handle_alert(env))
    assert first.id == second.id and harness.fake.write_endpoints() == ["user/update"]
    assert harness.statuses() == ["requested", "executed"]
    assert len(service._locks) == 0
