"""schemas/MAPPING.md and the code agree: each enum table row is checked against what normalize() emits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pipeline.transforms.normalize import normalize

MAPPING = Path(__file__).resolve().parents[4] / "schemas" / "MAPPING.md"


def _tables() -> dict[str, list[dict[str, str]]]:
    """Markdown tables keyed by their header line, rows as {column: cell}."""
    tables: dict[str, list[dict[str, str]]] = {}
    lines = MAPPING.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        if lines[i].startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("| ---"):
            header = [c.strip() for c in lines[i].strip("|").split("|")]
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(dict(zip(header, (c.strip() for c in lines[i].strip("|").split("|")), strict=True)))
                i += 1
            tables[" | ".join(header)] = rows
        else:
            i += 1
    return tables


TABLES = _tables()


def _table(first_columns: str) -> list[dict[str, str]]:
    matches = [rows for header, rows in TABLES.items() if header.startswith(first_columns)]
    assert len(matches) == 1, f"one table starting with {first_columns!r} expected in MAPPING.md"
    return matches[0]


def _number(cell: str, unknown: int) -> int:
    return unknown if cell == "other values" else int(cell.split()[0])


def _list(cell: str) -> list[str]:
    return [c.strip() for c in cell.split(",")]


@pytest.mark.parametrize("mailtype", [1, 2])
def test_mail_status_table(samples: Any, mailtype: int) -> None:
    rows = _table("status | meaning | exmail.mail.status_name")
    assert [r["status"] for r in rows] == ["0", "1", "2", "3", "4", "11", "12", "13", "14", "other values"]
    for row in rows:
        doc = normalize(samples.mail_log(mailtype=mailtype, status=_number(row["status"], 15))).data
        assert doc["exmail"]["mail"]["status_name"] == row["exmail.mail.status_name"]
        assert doc["event"]["action"] == row["event.action"]
        assert doc["event"]["outcome"] == row["event.outcome"]
        assert doc["ocsf"]["status_id"] == int(row["ocsf.status_id"].split()[0])
        disposition = row["ocsf.disposition_id"]
        assert doc["ocsf"].get("disposition_id") == (None if disposition == "-" else int(disposition.split()[0]))


def test_login_type_table(samples: Any) -> None:
    rows = _table("type | meaning | exmail.login.type_name")
    assert len(rows) == 6
    for row in rows:
        doc = normalize(samples.login_log(type=_number(row["type"], 9))).data
        assert doc["exmail"]["login"]["type_name"] == row["exmail.login.type_name"]
        assert doc["event"]["action"] == row["event.action"]
        assert doc["ocsf"]["logon_type_id"] == int(row["ocsf.logon_type_id"].split()[0])


def test_operation_type_table(samples: Any) -> None:
    rows = _table("type | meaning | exmail.operation.type_name")
    assert [r["type"] for r in rows[:41]] == [str(n) for n in range(1, 42)]
    for row in rows:
        if row["type"] == "20 + remark 1":
            raw = samples.operation_log(type=20, remark=1)
        else:
            raw = samples.operation_log(type=_number(row["type"], 42))
        doc = normalize(raw).data
        assert doc["exmail"]["operation"]["type_name"] == row["exmail.operation.type_name"]
        assert doc["event"]["category"] == _list(row["event.category"])
        assert doc["event"]["type"] == _list(row["event.type"])
        assert doc["event"]["action"] == row["event.action"]
        assert doc["ocsf"]["class_uid"] == int(row["OCSF class"].split()[0])
        assert f"{doc['ocsf']['activity_id']} {doc['ocsf']['activity_name']}" == row["activity"]
        assert doc["ocsf"]["severity_id"] == int(row["severity_id"])
        has_target = "target" in doc["user"] or "group" in doc
        assert has_target == (row["target"] != "-")


def test_batchjob_type_table(samples: Any) -> None:
    rows = _table("type | meaning | exmail.batchjob.type_name")
    assert [r["type"] for r in rows[:10]] == [str(n) for n in range(10)]
    for row in rows:
        doc = normalize(samples.batchjob_log(type=_number(row["type"], 10))).data
        assert doc["exmail"]["batchjob"]["type_name"] == row["exmail.batchjob.type_name"]
        assert doc["event"]["category"] == _list(row["event.category"])
        assert doc["event"]["type"] == _list(row["event.type"])
        assert doc["event"]["action"] == row["event.action"]
        assert f"{doc['ocsf']['activity_id']} {doc['ocsf']['activity_name']}" == row["activity"]


def test_directory_change_table(samples: Any) -> None:
    rows = _table("object_type | change")
    assert len(rows) == 15
    for row in rows:
        doc = normalize(samples.directory(row["object_type"], row["change"])).data
        assert doc["event"]["type"] == _list(row["event.type"])
        assert doc["event"]["action"] == row["event.action"]
        assert doc["ocsf"]["class_uid"] == int(row["OCSF class"].split()[0])
        assert f"{doc['ocsf']['activity_id']} {doc['ocsf']['activity_name']}" == row["activity"]


def test_hr_table(samples: Any) -> None:
    rows = _table("event | ECS event.type")
    assert [r["event"] for r in rows] == ["joiner", "mover", "leaver"]
    for row in rows:
        doc = normalize(samples.hr(row["event"])).data
        assert doc["event"]["type"] == _list(row["ECS event.type"])
        assert doc["event"]["action"] == row["event.action"]
        assert f"{doc['ocsf']['activity_id']} {doc['ocsf']['activity_name']}" == row["OCSF activity"]
