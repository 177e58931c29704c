"""Worker processes killed (SIGKILL) mid-action, then a restart over the same ledger topic: an action whose
call the simulator already applied is completed without repeating it, one whose call never got through is
done once, and a scheduled delete from before the kills is not lost. Ledger and records live on the real
broker; Exmail is the simulator over TCP."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
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

pytestmark = pytest.mark.integration

WORKER = Path(__file__).with_name("actions_worker.py")
ROOT = Path(__file__).resolve().parents[3]
CONFIG = {
    "dry_run": False,
    "hr": {"leaver_grace": "1h", "clean_groups": False},
    "security": {
        "routes": [{"name": "hostile-login", "rules": ["login_hostile_ip"], "actions": ["disable_account"]}]
    },
}


def _spec(tmp_path: Path, sim: Any, kafka_env: Any, envelopes: list[Any], name: str, **extra: Any) -> Path:
    creds = sim.credentials
    spec = {
        "bootstrap": kafka_env.bootstrap,
        "prefix": kafka_env.names.prefix,
        "ledger_topic": kafka_env.ledger_topic,
        "exmail": {
            "corp_id": creds["corp_id"],
            "base_url": sim.exmail_base,
            "secrets": {
                "contact": creds["secrets"]["contact"],
                "function_setting": creds["secrets"]["function_setting"],
            },
        },
        "config": CONFIG,
        "envelopes": [e.to_dict() for e in envelopes],
        **extra,
    }
    path = tmp_path / f"{name}.json"
    path.write_bytes(orjson.dumps(spec))
    path.chmod(0o600)
    return path


class Worker:
    def __init__(self, tmp_path: Path, spec: Path, name: str) -> None:
        self.log = tmp_path / f"{name}.log"
        self.proc = subprocess.Popen(
            [sys.executable, str(WORKER), str(spec)],
            cwd=ROOT,
            stdout=self.log.open("wb"),
            stderr=subprocess.STDOUT,
        )

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    async def wait_for(self, check: Any, what: str, limit: float = 60.0) -> None:
        deadline = time.monotonic() + limit
        while not await check():
            assert self.proc.poll() is None, f"worker exited before {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"timed out waiting for {what}:\n{self.output()}"
            await asyncio.sleep(0.05)

    async def kill(self) -> None:
        self.proc.kill()
        await asyncio.to_thread(self.proc.wait, 30)


async def _ops(sim: Any) -> list[tuple[int, str]]:
    return [(r["record"]["type"], r["record"]["operand"]) for r in await sim.admin.truth("operation_log")]


async def _updates(sim: Any) -> int:
    return int((await sim.admin.stats())["calls"].get("user/update", 0))


async def test_killed_workers_neither_repeat_nor_lose(sim, exmail, kafka_env, builders, tmp_path):
    protected = {*sim.credentials["admins"], sim.credentials["service_mailbox"]}
    leaver, applied, lost = [
        u.userid for u in sim.sim.corp.directory.users.values() if u.enable == 1 and u.userid not in protected
    ][:3]

    # worker 1 finishes a leaver: the account is disabled and its delete is scheduled in the ledger
    w1 = Worker(tmp_path, _spec(tmp_path, sim, kafka_env, [builders.hr("leaver", leaver, "L1")], "w1"), "w1")
    assert await asyncio.to_thread(w1.proc.wait, 60) == 0, w1.output()
    assert await _ops(sim) == [(22, leaver)]

    # worker 2 dies right after the simulator applied its disable, before recording the answer
    w2 = Worker(
        tmp_path,
        _spec(
            tmp_path,
            sim,
            kafka_env,
            [builders.alert("login_hostile_ip", applied)],
            "w2",
            pause_after_update=True,
        ),
        "w2",
    )

    async def paused() -> bool:
        return "paused" in w2.output()

    await w2.wait_for(paused, "the disable call")
    await w2.kill()
    assert sim.sim.corp.directory.users[applied].enable == 0

    # worker 3 dies while its disable is held in flight by the simulator (the call never takes effect)
    rule = await sim.admin.add_fault(kind="delay", endpoint="user/update", delay=2.0, count=1)
    w3 = Worker(
        tmp_path, _spec(tmp_path, sim, kafka_env, [builders.alert("login_hostile_ip", lost)], "w3"), "w3"
    )

    async def in_flight() -> bool:
        return (await sim.admin.stats())["faults_fired"].get(rule["id"], 0) > 0

    await w3.wait_for(in_flight, "the held call")
    await w3.kill()
    deadline = time.monotonic() + 30
    while await _updates(sim) < 3:  # the held request reaches the handler and dies with its connection
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    assert sim.sim.corp.directory.users[lost].enable == 1
    assert await _ops(sim) == [(22, leaver), (22, applied)]

    # restart in-process over the same ledger topic, a little over an hour later
    store = KafkaLedgerStore(kafka_env.producer, kafka_env.bootstrap, kafka_env.ledger_topic)
    await store.load()
    later = time.time() + 3601
    service = ActionService(
        ActionsConfig.model_validate(CONFIG),
        {exmail.corp_id: exmail},
        store,
        KafkaActionOutput(kafka_env.producer, kafka_env.names),
        clock=lambda: later,
    )
    due = {e.request.target: e for e in await service.due()}
    assert {t: (e.kind.value, e.state) for t, e in due.items()} == {
        applied: ("disable_account", LedgerState.EXECUTING),
        lost: ("disable_account", LedgerState.EXECUTING),
        leaver: ("leaver_delete", LedgerState.SCHEDULED),
    }
    assert [c.outcome for c in due[applied].calls if c.kind == "write"] == ["sent"]

    resumed = {e.request.target: e for e in await service.run_due()}
    assert all(e.state is LedgerState.DONE for e in resumed.values()) and set(resumed) == {
        applied,
        lost,
        leaver,
    }
    assert [c.outcome for c in resumed[applied].calls if c.kind == "write"] == ["unknown"]
    assert [c.outcome for c in resumed[lost].calls if c.kind == "write"] == ["unknown", "ok"]
    assert await _updates(sim) == 4, "only the call that never took effect was made again"
    assert await _ops(sim) == [(22, leaver), (22, applied), (22, lost), (20, leaver)]
    assert await service.run_due() == []

    records: dict[str, list[str]] = defaultdict(list)
    envelopes = kafka_env.envelopes(kafka_env.names.actions)
    for record in envelopes:
        records[record.data["target"]["userid"] + "/" + record.data["kind"]].append(record.data["status"])
    assert dict(records) == {
        key: ["requested", "executed"]
        for key in (
            f"{leaver}/leaver",
            f"{leaver}/leaver_delete",
            f"{applied}/disable_account",
            f"{lost}/disable_account",
        )
    }
    assert len({r.id for r in envelopes}) == len(envelopes)
