"""HR lifecycle records (joiner, mover, leaver) as IAM events."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

HR_EXPECTED = {  # event -> (event.type, ocsf activity_id, activity_name)
    "joiner": (["user", "creation"], 1, "Create"),
    "mover": (["user", "change"], 99, "Move"),
    "leaver": (["user", "deletion"], 6, "Delete"),
}


@pytest.mark.parametrize("hr_event", sorted(HR_EXPECTED))
def test_hr_lifecycle(samples: Any, hr_event: str) -> None:
    event = normalize(samples.hr(hr_event))
    doc = event.data
    types, activity_id, activity_name = HR_EXPECTED[hr_event]
    assert doc["event"]["category"] == ["iam"]
    assert doc["event"]["type"] == types
    assert doc["event"]["action"] == f"hr-{hr_event}"
    assert doc["event"]["outcome"] == "unknown"
    assert doc["user"] == {"id": "dave@example.com", "name": "dave", "email": "dave@example.com",
                           "domain": "example.com", "full_name": "Dave Li", "group": {"name": "R&D/Mail team"}}
    assert doc["related"]["user"] == ["dave@example.com", "d.li@example.com"]
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["activity_name"]) == (3001, activity_id, activity_name)
    assert ocsf["status_id"] == 0
    assert ocsf["actor"] == {"app_name": "HR"}
    assert doc["exmail"]["hr"]["employee_id"] == "E1001"
    assert validate("exmail.event/1", event.to_dict()) == []


def test_hr_minimal_record(samples: Any) -> None:
    raw = samples.hr("leaver")
    for key in ("name", "department_path", "position", "mobile", "aliases", "effective_at"):
        del raw.data[key]
    event = normalize(raw)
    assert "full_name" not in event.data["user"]
    assert validate("exmail.event/1", event.to_dict()) == []
