"""Joiner, mover and leaver against the simulator over TCP, with the ledger on a compacted topic and records
on exmail.actions of the real broker: exact directory state and operation-log entries, and a replay of the
whole sequence (also after a restart that reloads the ledger from Kafka) changes nothing."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

import orjson
import pytest

from pipeline.actions import (
    ActionsConfig,
    ActionService,
    KafkaActionOutput,
    KafkaLedgerStore,
    LedgerState,
)
from pipeline.schema_registry import validate

pytestmark = pytest.mark.integration

NEW = "new.hire@corp.example.com"
ALIAS = "nhire@corp.example.com"
SUPPORT = "support@corp.example.com"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _config(drop_dir: str) -> ActionsConfig:
    return ActionsConfig.model_validate(
        {
            "dry_run": False,
            "hr": {
                "create_departments": True,
                "leaver_grace": "1d",
                "groups": [SUPPORT, "managers@corp.example.com"],
                "delivery": {"type": "file", "dir": drop_dir},
            },
        }
    )


async def _service(exmail: Any, kafka_env: Any, drop_dir: str, clock: Clock) -> ActionService:
    store = KafkaLedgerStore(kafka_env.producer, kafka_env.bootstrap, kafka_env.ledger_topic)
    await store.load()
    return ActionService(
        _config(drop_dir),
        {exmail.corp_id: exmail},
        store,
        KafkaActionOutput(kafka_env.producer, kafka_env.names),
        clock=clock,
    )


async def _ops(sim: Any) -> list[tuple[int, str]]:
    return [(r["record"]["type"], r["record"]["operand"]) for r in await sim.admin.truth("operation_log")]


def _department(directory: dict[str, Any], department_id: int) -> dict[str, Any]:
    return next(d for d in directory["departments"] if d["id"] == department_id)


def _path(directory: dict[str, Any], department_id: int) -> str:
    names = []
    current = _department(directory, department_id)
    while current["id"] != 1:
        names.append(current["name"])
        current = _department(directory, current["parentid"])
    return "/".join(reversed(names))


async def test_joiner_mover_leaver_state_oplog_and_replay(sim, exmail, kafka_env, builders, tmp_path):
    clock = Clock()
    builders.now = clock
    drop = str(tmp_path / "drop")
    service = await _service(exmail, kafka_env, drop, clock)
    initial = await sim.admin.directory()
    assert await _ops(sim) == []
    joiner = builders.hr(
        "joiner",
        NEW,
        "R1",
        name="New Hire",
        department_path="R&D/Mail team",
        position="Engineer",
        mobile="13800000000",
        aliases=[ALIAS],
    )
    mover = builders.hr("mover", NEW, "R2", department_path="销售部/华东销售", position="Account manager")
    leaver = builders.hr("leaver", NEW, "R3")

    joined = await service.handle_hr(joiner)
    assert joined.state is LedgerState.DONE, joined.error
    state = await sim.admin.directory()
    [user] = [u for u in state["users"] if u["userid"] == NEW]
    assert _path(state, user["department"][0]) == "R&D/Mail team"
    assert {
        k: user[k] for k in ("name", "position", "mobile", "slaves", "extid", "enable", "cpwd_login")
    } == {
        "name": "New Hire",
        "position": "Engineer",
        "mobile": "13800000000",
        "slaves": [ALIAS],
        "extid": "E2001",
        "enable": 1,
        "cpwd_login": 1,
    }
    password = sim.sim.corp.directory.users[NEW].password
    delivered = orjson.loads((tmp_path / "drop" / f"{joined.id}.json").read_bytes())
    assert delivered["password"] == password and delivered["userid"] == NEW
    assert await _ops(sim) == [(28, "R&D"), (28, "Mail team"), (19, NEW)]

    sim.sim.corp.directory.groups[SUPPORT].userlist.append(NEW)  # joined the support group meanwhile

    moved = await service.handle_hr(mover)
    assert moved.state is LedgerState.DONE, moved.error
    state = await sim.admin.directory()
    [user] = [u for u in state["users"] if u["userid"] == NEW]
    assert _path(state, user["department"][0]) == "销售部/华东销售" and user["position"] == "Account manager"

    left = await service.handle_hr(leaver)
    assert left.state is LedgerState.DONE, left.error
    state = await sim.admin.directory()
    [user] = [u for u in state["users"] if u["userid"] == NEW]
    assert user["enable"] == 0
    support = next(g for g in state["groups"] if g["groupid"] == SUPPORT)
    assert NEW not in support["userlist"]
    assert await _ops(sim) == [(28, "R&D"), (28, "Mail team"), (19, NEW), (23, NEW), (22, NEW), (34, SUPPORT)]

    assert await service.run_due() == []
    clock.now += 86400 + 1
    [deleted] = await service.run_due()
    assert deleted.kind.value == "leaver_delete" and deleted.state is LedgerState.DONE
    expected_ops = [(28, "R&D"), (28, "Mail team"), (19, NEW), (23, NEW), (22, NEW), (34, SUPPORT), (20, NEW)]
    assert await _ops(sim) == expected_ops

    final = await sim.admin.directory()
    assert final["users"] == initial["users"]
    assert final["groups"] == initial["groups"]
    assert final["aliases"] == initial["aliases"]
    added = [d for d in final["departments"] if d not in initial["departments"]]
    assert sorted(_path(final, d["id"]) for d in added) == ["R&D", "R&D/Mail team"]

    # replay: same service, then a restarted one whose ledger is reloaded from the broker
    for env in (joiner, mover, leaver):
        assert (await service.handle_hr(env)).state is LedgerState.DONE
    restarted = await _service(exmail, kafka_env, drop, clock)
    for env in (joiner, mover, leaver):
        assert (await restarted.handle_hr(env)).state is LedgerState.DONE
    clock.now += 10 * 86400
    assert await restarted.run_due() == []
    assert await _ops(sim) == expected_ops
    assert await sim.admin.directory() == final

    records = kafka_env.envelopes(kafka_env.names.actions)
    by_action: dict[str, list[str]] = defaultdict(list)
    for record in records:
        assert validate("exmail.action/1", record.to_dict()) == []
        by_action[record.data["kind"]].append(record.data["status"])
    assert dict(by_action) == {
        kind: ["requested", "executed"] for kind in ("joiner", "mover", "leaver", "leaver_delete")
    }
    assert len({r.id for r in records}) == len(records) == 8
    for _, raw in kafka_env.read(kafka_env.names.actions) + kafka_env.read(kafka_env.ledger_topic):
        assert raw is None or password.encode() not in raw


async def test_unknown_department_and_conflicting_userid_fail_with_alerts(
    sim, exmail, kafka_env, builders, tmp_path
):
    clock = Clock()
    builders.now = clock
    store = KafkaLedgerStore(kafka_env.producer, kafka_env.bootstrap, kafka_env.ledger_topic)
    await store.load()
    config = _config(str(tmp_path / "drop")).model_copy(deep=True)
    config.hr.create_departments = False
    service = ActionService(
        config,
        {exmail.corp_id: exmail},
        store,
        KafkaActionOutput(kafka_env.producer, kafka_env.names),
        clock=clock,
    )
    before = await sim.admin.directory()
    unknown = await service.handle_hr(
        builders.hr("joiner", NEW, "X1", name="New", department_path="R&D/Nowhere")
    )
    assert unknown.state is LedgerState.FAILED and unknown.errcode == 60003
    taken = sim.credentials["service_mailbox"]
    conflict = await service.handle_hr(
        builders.hr("joiner", taken, "X2", name="Someone", department_path="财务部")
    )
    assert conflict.state is LedgerState.FAILED and conflict.errcode == 60102
    alias_owner = next(u for u in sim.sim.corp.directory.users.values() if u.slaves)
    alias = await service.handle_hr(
        builders.hr(
            "joiner", alias_owner.slaves[0], "X3", name="A", employee_id="E7", department_path="财务部"
        )
    )
    assert alias.state is LedgerState.FAILED and alias.errcode == 600001
    group = await service.handle_hr(
        builders.hr(
            "joiner", "sales@corp.example.com", "X4", name="G", employee_id="E8", department_path="财务部"
        )
    )
    assert group.state is LedgerState.FAILED and group.errcode == 600002
    assert await sim.admin.directory() == before and await _ops(sim) == []
    alerts = kafka_env.envelopes(kafka_env.names.alerts)
    assert sorted(a.data["labels"]["action_id"] for a in alerts) == sorted(
        e.id for e in (unknown, conflict, alias, group)
    )
    assert all(a.data["labels"]["alertname"] == "action_failed" for a in alerts)
