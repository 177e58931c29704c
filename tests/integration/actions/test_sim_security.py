"""The hostile-login scenario against the simulator over TCP: with dry_run false exactly the targeted account
is disabled, the allow-list, administrators and the hourly limit hold, and undo restores it; with dry_run
true nothing changes in the simulator but the intended calls are recorded (on the real broker)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from pipeline.actions import (
    ActionsConfig,
    ActionService,
    KafkaActionOutput,
    KafkaLedgerStore,
    LedgerState,
)

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


async def _service(sim: Any, exmail: Any, kafka_env: Any, clock: Clock, *, dry_run: bool) -> ActionService:
    config = ActionsConfig.model_validate(
        {
            "dry_run": dry_run,
            "admins": sim.credentials["admins"],
            "allow_list": [sim.credentials["service_mailbox"]],
            "hourly_limits": {"disable_account": 2},
            "security": {
                "routes": [
                    {"name": "hostile-login", "rules": ["login_hostile_ip"], "actions": ["disable_account"]}
                ]
            },
        }
    )
    store = KafkaLedgerStore(kafka_env.producer, kafka_env.bootstrap, kafka_env.ledger_topic)
    await store.load()
    return ActionService(
        config,
        {exmail.corp_id: exmail},
        store,
        KafkaActionOutput(kafka_env.producer, kafka_env.names),
        clock=clock,
    )


def _staff(sim: Any, count: int) -> list[str]:
    protected = {*sim.credentials["admins"], sim.credentials["service_mailbox"]}
    users = sim.sim.corp.directory.users.values()
    return [u.userid for u in users if u.enable == 1 and u.userid not in protected][:count]


def _enabled(directory: dict[str, Any]) -> dict[str, int]:
    return {u["userid"]: u["enable"] for u in directory["users"]}


async def _ops(sim: Any) -> list[tuple[int, str]]:
    return [(r["record"]["type"], r["record"]["operand"]) for r in await sim.admin.truth("operation_log")]


async def test_hostile_login_disables_target_respects_rails_and_undo_restores(
    sim, exmail, kafka_env, builders
):
    clock = Clock()
    builders.now = clock
    service = await _service(sim, exmail, kafka_env, clock, dry_run=False)
    first, second, third = _staff(sim, 3)
    before = await sim.admin.directory()

    hit = await service.handle_alert(builders.alert("login_hostile_ip", first))
    assert hit.state is LedgerState.DONE and hit.result == "changed"
    after = await sim.admin.directory()
    changed = {u: e for u, e in _enabled(after).items() if _enabled(before)[u] != e}
    assert changed == {first: 0}
    assert {**after, "users": None} == {**before, "users": None}
    assert await _ops(sim) == [(22, first)]

    admin = await service.handle_alert(builders.alert("login_hostile_ip", sim.credentials["admins"][0]))
    allowed = await service.handle_alert(
        builders.alert("login_hostile_ip", sim.credentials["service_mailbox"])
    )
    assert admin.state is LedgerState.SKIPPED and allowed.state is LedgerState.SKIPPED
    assert (await service.handle_alert(builders.alert("other_rule", second))).state is LedgerState.SKIPPED

    clock.now += 60
    assert (await service.handle_alert(builders.alert("login_hostile_ip", second))).state is LedgerState.DONE
    clock.now += 60
    limited = await service.handle_alert(builders.alert("login_hostile_ip", third))
    assert limited.state is LedgerState.SKIPPED and "hourly limit" in limited.detail
    assert await _ops(sim) == [(22, first), (22, second)]

    undone = await service.undo(hit.id, by="secops", reason="user confirmed the login")
    assert undone.state is LedgerState.UNDONE
    assert _enabled(await sim.admin.directory())[first] == 1
    assert await _ops(sim) == [(22, first), (22, second), (21, first)]

    clock.now += 3600
    later = await service.handle_alert(builders.alert("login_hostile_ip", third))
    assert later.state is LedgerState.DONE and _enabled(await sim.admin.directory())[third] == 0

    statuses = [
        (r.data["target"]["userid"], r.data["status"]) for r in kafka_env.envelopes(kafka_env.names.actions)
    ]
    assert (
        (first, "undone") in statuses and (third, "skipped") in statuses and (third, "executed") in statuses
    )


async def test_hostile_login_dry_run_changes_nothing_and_records_the_plan(sim, exmail, kafka_env, builders):
    clock = Clock()
    builders.now = clock
    service = await _service(sim, exmail, kafka_env, clock, dry_run=True)
    [target] = _staff(sim, 1)
    before = await sim.admin.directory()
    entry = await service.handle_alert(builders.alert("login_hostile_ip", target))
    assert entry.state is LedgerState.DRY_RUN and entry.result == "would_change"
    assert await sim.admin.directory() == before
    assert await _ops(sim) == []
    records = kafka_env.envelopes(kafka_env.names.actions)
    assert [r.data["status"] for r in records] == ["requested", "dry_run"]
    planned = [c for c in records[-1].data["calls"] if c["kind"] == "write"]
    assert [(c["endpoint"], c["params"], c["outcome"]) for c in planned] == [
        ("user/update", {"userid": target, "enable": 0}, "planned")
    ]
    assert records[-1].data["dry_run"] is True
