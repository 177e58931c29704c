"""`pipeline directory export|import` against a `pipeline sim` process and the real broker: a spreadsheet-like
edit imports with exactly its plan, the simulator's directory and operation log then show exactly those
changes, every change is on exmail.actions, a SIGKILL halfway and a rerun repeat nothing, and GBK/UTF-8 CSV
and XLSX all work."""

from __future__ import annotations

import csv
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from openpyxl import load_workbook

from pipeline.schema_registry import validate

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
DOMAIN = "corp.example.com"

NEW_DEPT = "新业务部"


def _csv_rows(data: bytes, encoding: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


def _write_csv(path: Path, rows: list[list[str]], encoding: str) -> None:
    buf = io.StringIO(newline="")
    csv.writer(buf, lineterminator="\r\n").writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))


def _plan(result: Any) -> dict[str, Any]:
    return orjson.loads(result.stdout.splitlines()[0])  # type: ignore[no-any-return]


def _ops(plan: dict[str, Any]) -> Counter[tuple[str, str]]:
    return Counter((op["action"], op["object"]) for op in plan["ops"])


def _edit(rows: list[list[str]], col: dict[str, str], prefix: str, new_dept: str) -> dict[str, list[str]]:
    """Add 20 users in a new department, move 5, disable 3 (distinct, enabled, non-admin users)."""
    header = rows[0]
    idx = {name: header.index(col[name]) for name in col}
    users = [r for r in rows[1:] if r[idx["type"]] in ("user", "成员")]
    enabled = [r for r in users if r[idx["enable"]] in ("enabled", "启用")
               and not r[idx["userid"]].startswith(("admin@", "it.ops@", "service@"))]
    moved, disabled = enabled[:5], enabled[5:8]
    for r in moved:
        current = r[idx["department"]]
        target = next(u[idx["department"]] for u in users if u[idx["department"]] not in (current, ""))
        r[idx["department"]] = target
    for r in disabled:
        r[idx["enable"]] = "disabled" if r[idx["enable"]] == "enabled" else "禁用"
    added = []
    for i in range(20):
        row = [""] * len(header)
        row[idx["type"]] = users[0][idx["type"]]
        userid = f"{prefix}{i:02d}@{DOMAIN}"
        row[idx["userid"]], row[idx["name"]] = userid, f"新员工{i:02d}"
        row[idx["department"]], row[idx["mobile"]] = new_dept, f"1390000{i:04d}"
        rows.append(row)
        added.append(userid)
    return {"moved": [r[idx["userid"]] for r in moved], "disabled": [r[idx["userid"]] for r in disabled],
            "added": added}


EN = {"type": "type", "userid": "userid", "name": "name", "department": "department", "enable": "enable",
      "mobile": "mobile"}
ZH = {"type": "类型", "userid": "帐号", "name": "姓名", "department": "部门", "enable": "状态", "mobile": "手机"}


def _op_types(log: list[dict[str, Any]]) -> Counter[int]:
    return Counter(int(r["type"]) for r in log)


def test_spreadsheet_edit_imports_with_exactly_its_plan(cli: Any, sim_process: Any, tmp_path: Path,
                                                        kafka_bootstrap: str, topic_prefix: str,
                                                        read_topic: Any) -> None:
    groups = [a for g in sim_process.groups() for a in ("--group", g)]
    exported = cli("directory", "export", "-o", str(tmp_path / "dir.csv"), *groups)
    assert exported.exit_code == 0, exported.output
    original = (tmp_path / "dir.csv").read_bytes()

    # round trip: the unchanged export plans nothing
    same = cli("directory", "import", str(tmp_path / "dir.csv"), "--dry-run", "--json", *groups)
    assert same.exit_code == 0, same.output
    assert _plan(same)["ops"] == [] and "nothing to do" in same.stderr

    rows = _csv_rows(original, "utf-8")
    edit = _edit(rows, EN, "new.hire", NEW_DEPT)
    edited = tmp_path / "edited.csv"
    _write_csv(edited, rows, "utf-8")
    dry = cli("directory", "import", str(edited), "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    plan = _plan(dry)
    assert _ops(plan) == {("create", "department"): 1, ("create", "user"): 20, ("move", "user"): 5,
                          ("disable", "user"): 3}
    assert {op["key"] for op in plan["ops"] if op["action"] == "move"} == set(edit["moved"])
    assert {op["key"] for op in plan["ops"] if op["action"] == "disable"} == set(edit["disabled"])
    assert {op["key"] for op in plan["ops"] if op["object"] == "user" and op["action"] == "create"} \
        == set(edit["added"])
    assert all(set(op["changes"]) == {"department"} for op in plan["ops"] if op["action"] == "move")
    assert all(op["changes"] == {"enable": [1, 0]} for op in plan["ops"] if op["action"] == "disable")

    before_dir, before_log = sim_process.directory(), sim_process.operation_log()
    applied = cli("directory", "import", str(edited), "--bootstrap", kafka_bootstrap,
                  "--topic-prefix", topic_prefix)
    assert applied.exit_code == 0, applied.output
    assert "29 changed" in applied.stderr

    after_dir = sim_process.directory()
    depts = {d["id"]: d for d in after_dir["departments"]}
    new_ids = [d["id"] for d in after_dir["departments"] if d["name"] == NEW_DEPT and d["parentid"] == 1]
    assert len(new_ids) == 1 and len(depts) == len(before_dir["departments"]) + 1
    users = {u["userid"]: u for u in after_dir["users"]}
    old_users = {u["userid"]: u for u in before_dir["users"]}
    assert set(users) - set(old_users) == set(edit["added"])
    assert all(users[u]["department"] == new_ids for u in edit["added"])
    changed = {u for u in old_users if old_users[u] != users[u]}
    assert changed == set(edit["moved"]) | set(edit["disabled"])
    for u in edit["moved"]:
        assert users[u]["department"] != old_users[u]["department"]
        assert {k: v for k, v in users[u].items() if k != "department"} == \
            {k: v for k, v in old_users[u].items() if k != "department"}
    for u in edit["disabled"]:
        assert users[u]["enable"] == 0 and {**users[u], "enable": 1} == old_users[u]
    new_log = sim_process.operation_log()[len(before_log):]
    assert _op_types(new_log) == {28: 1, 19: 20, 23: 5, 22: 3}
    assert sorted(r["operand"] for r in new_log if r["type"] == 22) == sorted(edit["disabled"])

    records = read_topic(f"{topic_prefix}exmail.actions")
    assert len(records) == 29 and len({r["id"] for r in records}) == 29
    assert {r["data"]["kind"] for r in records} == {"directory_import"}
    assert {r["source"] for r in records} == {"pipeline.directory"}
    assert [e for r in records for e in validate("exmail.action/1", r)] == []
    assert Counter(r["data"]["status"] for r in records) == {"executed": 29}
    assert {r["data"]["target"]["userid"] for r in records} == \
        {f"department:{NEW_DEPT}", *edit["added"], *edit["moved"], *edit["disabled"]}

    again = cli("directory", "import", str(edited), "--json", "--bootstrap", kafka_bootstrap,
                "--topic-prefix", topic_prefix)
    assert again.exit_code == 0 and _plan(again)["ops"] == []
    assert len(sim_process.operation_log()) == len(before_log) + 29


def test_sigkill_halfway_then_rerun_repeats_nothing(cli: Any, sim_process: Any, tmp_path: Path,
                                                    kafka_bootstrap: str, topic_prefix: str,
                                                    read_topic: Any) -> None:
    """GBK CSV with the admin console's Chinese headers; the importer is killed after some ops."""
    exported = cli("directory", "export", "-o", str(tmp_path / "dir.csv"), "--lang", "zh", "--encoding", "gbk")
    assert exported.exit_code == 0, exported.output
    raw = (tmp_path / "dir.csv").read_bytes()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    rows = _csv_rows(raw, "gbk")
    edit = _edit(rows, ZH, "kill.test", "华南拓展部/深圳组")
    edited = tmp_path / "edited-gbk.csv"
    _write_csv(edited, rows, "gbk")
    sim_process.post("faults", {"kind": "delay", "endpoint": "user/*", "delay": 0.15})
    before_log = sim_process.operation_log()
    journal = edited.with_name(edited.name + ".journal")
    cmd = [sys.executable, "-m", "pipeline.cli", "directory", "import", str(edited), "--sim-credentials",
           str(sim_process.credentials), "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while not (journal.exists() and journal.read_bytes().count(b'"status":"done"') >= 10):
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else b""
            assert time.monotonic() < deadline
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
        sim_process.delete("faults")
    halfway = sim_process.operation_log()[len(before_log):]
    assert 0 < len(halfway) < 30

    rerun = cli("directory", "import", str(edited), "--json", "--bootstrap", kafka_bootstrap,
                "--topic-prefix", topic_prefix)
    assert rerun.exit_code == 0, rerun.output
    head = _plan(rerun)
    assert head["resumed"] is True and head["done"] >= 10
    new_log = sim_process.operation_log()[len(before_log):]
    assert _op_types(new_log) == {28: 2, 19: 20, 23: 5, 22: 3}  # two departments: 华南拓展部 and its 深圳组
    assert Counter(r["operand"] for r in new_log if r["type"] == 19) == Counter(edit["added"])
    records = read_topic(f"{topic_prefix}exmail.actions")
    action_ids = {r["data"]["action_id"] for r in records}
    assert len(action_ids) == 30 and len({r["id"] for r in records}) == 30  # a re-sent record keeps its id
    assert cli("directory", "import", str(edited), "--dry-run").stderr.count("nothing to do") == 1


def test_xlsx_and_rejected_rows(cli: Any, sim_process: Any, tmp_path: Path, kafka_bootstrap: str,
                                topic_prefix: str, read_topic: Any) -> None:
    path = tmp_path / "dir.xlsx"
    assert cli("directory", "export", "-o", str(path)).exit_code == 0
    same = cli("directory", "import", str(path), "--dry-run", "--json")
    assert _plan(same)["ops"] == []
    book = load_workbook(path)
    sheet = book["users"]
    header = [c.value for c in sheet[1]]
    col = {name: header.index(name) + 1 for name in ("userid", "name", "department", "mobile", "position")}
    target = sheet.cell(row=2, column=col["userid"]).value
    sheet.cell(row=2, column=col["position"], value="首席测试官")
    bad_row = sheet.max_row + 1
    for name, value in (("userid", f"bad.mobile@{DOMAIN}"), ("name", "坏手机"), ("department", "产品部"),
                        ("mobile", "not-a-number")):
        sheet.cell(row=bad_row, column=col[name], value=value)
    book.save(path)
    result = cli("directory", "import", str(path), "--bootstrap", kafka_bootstrap, "--topic-prefix", topic_prefix)
    assert result.exit_code == 1, result.output  # a rejected row
    assert f"users!{bad_row}: user bad.mobile@{DOMAIN}: errcode 60103 (invalid mobile number)" in result.stderr
    assert "1 changed" in result.stderr and "1 rejected" in result.stderr
    users = {u["userid"]: u for u in sim_process.directory()["users"]}
    assert users[str(target)]["position"] == "首席测试官" and f"bad.mobile@{DOMAIN}" not in users
    records = read_topic(f"{topic_prefix}exmail.actions")
    assert Counter(r["data"]["status"] for r in records) == {"executed": 1, "failed": 1}
    failed = next(r for r in records if r["data"]["status"] == "failed")
    assert failed["data"]["errcode"] == 60103 and "invalid mobile number" in failed["data"]["error"]
