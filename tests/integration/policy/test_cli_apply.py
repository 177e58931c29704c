"""`pipeline policy plan|apply` against a `pipeline sim` process: a policy declared for one department is
applied to exactly its members (the simulator's useroption state says so), each change is on exmail.actions,
and the options poller of `pipeline ingest` names the violated rule in its drift items."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml

from pipeline.schema_registry import validate
from pipeline.sources.config import config_from_sim_credentials

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DEPT = "研发中心"


def _subtree_members(directory: dict[str, Any], top: str) -> set[str]:
    depts = {d["id"]: d for d in directory["departments"]}

    def path(did: int) -> str:
        names = []
        while did in depts and did != 1:
            names.append(depts[did]["name"])
            did = depts[did]["parentid"]
        return "/".join(reversed(names))

    return {u["userid"] for u in directory["users"]
            if any(path(d) == top or path(d).startswith(top + "/") for d in u["department"])}


def _config(sim_process: Any, tmp_path: Path, bootstrap: str, prefix: str) -> Path:
    base = config_from_sim_credentials(sim_process.credentials)
    ingest = base.model_dump(mode="json", exclude_none=True)
    ingest.pop("kafka", None)
    corp = ingest["corps"][0]
    corp["streams"] = ["directory", "options"]
    corp["policy"] = {"departments": {DEPT: {"imap_smtp": "0", "pop_smtp": "0"}}}
    corp["client"] = {"corp_rate": 200, "corp_burst": 200, "app_rate": 200, "app_burst": 200}
    ingest["http"] = {"host": "127.0.0.1", "port": 0}
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump({"kafka": {"bootstrap": bootstrap, "topic_prefix": prefix, "partitions": 1},
                                    "ingest": ingest}, allow_unicode=True), encoding="utf-8")
    return path


def _ingest_until_options(config: Path, count: int, read_topic: Any, topic: str) -> list[dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, "-m", "pipeline.cli", "ingest", "--config", str(config)], cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stderr.read().decode()[-3000:] if proc.stderr else ""
            records = read_topic(topic)
            if len(records) >= count:
                return records
            assert time.monotonic() < deadline, f"only {len(records)} options records"
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_department_policy_applies_to_exactly_its_members(cli: Any, sim_process: Any, tmp_path: Path,
                                                          kafka_bootstrap: str, topic_prefix: str,
                                                          read_topic: Any) -> None:
    config = _config(sim_process, tmp_path, kafka_bootstrap, topic_prefix)
    directory = sim_process.directory()
    members = _subtree_members(directory, DEPT)
    before = sim_process.options()
    differing = {u for u in members if before[u]["2"] != "0" or before[u]["3"] != "0"}
    assert members and differing and len(members) < len(before)

    planned = cli("policy", "plan", "--json", "--config", str(config), tenant=False)
    assert planned.exit_code == 0, planned.output
    plan = orjson.loads(planned.stdout)
    assert {m["userid"] for m in plan["members"]} == differing
    assert {s["rule"] for m in plan["members"] for s in m["settings"]} == {f"department:{DEPT}"}

    # the options poller flags the same members, naming the rule
    events = _ingest_until_options(config, len(before), read_topic, f"{topic_prefix}exmail.raw.options")
    drift = {e["data"]["userid"]: e["data"]["drift"] for e in events}
    assert {u for u, d in drift.items() if d} == differing
    for userid in differing:
        assert {(d["type"], d["rule"]) for d in drift[userid]} <= {(2, f"department:{DEPT}"), (3, f"department:{DEPT}")}
        assert drift[userid]

    dry = cli("policy", "apply", "--dry-run", "--config", str(config), tenant=False)
    assert dry.exit_code == 0 and sim_process.options() == before
    applied = cli("policy", "apply", "--department", DEPT, "--config", str(config), tenant=False)
    assert applied.exit_code == 0, applied.output
    after = sim_process.options()
    changed = {u for u in before if before[u] != after[u]}
    assert changed == differing
    for u in members:
        assert after[u]["2"] == "0" and after[u]["3"] == "0"
        assert {k: v for k, v in after[u].items() if k not in ("2", "3")} == \
            {k: v for k, v in before[u].items() if k not in ("2", "3")}
    records = read_topic(f"{topic_prefix}exmail.actions")
    assert {r["data"]["target"]["userid"] for r in records} == differing
    assert {r["data"]["kind"] for r in records} == {"policy_apply"}
    assert [e for r in records for e in validate("exmail.action/1", r)] == []
    assert [e for r in events for e in validate("exmail.raw.options/1", r)] == []
    assert all(s["rule"] == f"department:{DEPT}" for r in records for s in r["data"]["params"]["settings"].values())

    again = cli("policy", "plan", "--json", "--config", str(config), tenant=False)
    assert orjson.loads(again.stdout)["members"] == []
