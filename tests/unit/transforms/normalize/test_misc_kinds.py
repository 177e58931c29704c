"""mail_status metrics, pipeline errors, HR lifecycle."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize


def test_mail_status_is_a_metric(samples: Any) -> None:
    event = normalize(samples.mail_status())
    doc = event.data
    assert doc["event"]["kind"] == "metric"
    assert "outcome" not in doc["event"]
    assert doc["event"]["action"] == "mail-volume-summary"
    assert doc["exmail"]["mail_status"] == {"domain": "example.com", "date": "2025-11-29", "sendsum": 120,
                                            "recvsum": 340}
    assert doc["related"] == {"hosts": ["example.com"]}
    assert "user" not in doc
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["activity_id"], doc["ocsf"]["type_uid"]) == (0, 99, 99)
    assert doc["ocsf"]["unmapped"]["sendsum"] == 120
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize(("gap_risk", "severity"), [(True, 4), (False, 3)])
def test_pipeline_error(samples: Any, gap_risk: bool, severity: int) -> None:
    event = normalize(samples.pipeline_error(gap_risk=gap_risk))
    doc = event.data
    assert doc["event"]["kind"] == "pipeline_error"
    assert (doc["event"]["type"], doc["event"]["outcome"]) == (["error"], "failure")
    assert doc["error"] == {"type": "api_error", "message": "log/mail query failed", "code": "601002"}
    assert doc["event"]["severity"] == severity
    assert doc.get("tags") == (["gap_risk"] if gap_risk else None)
    assert (doc["ocsf"]["class_uid"], doc["ocsf"]["status_id"], doc["ocsf"]["status_code"]) == (0, 2, "601002")
    assert doc["exmail"]["pipeline_error"]["window"] == {"begin_date": "2025-11-28", "end_date": "2025-11-29"}
    assert validate("exmail.event/1", event.to_dict()) == []


def test_pipeline_error_without_errcode_or_window(samples: Any) -> None:
    event = normalize(samples.pipeline_error(errcode=None, errmsg=None, window=None))
    assert "code" not in event.data["error"]
    assert "status_code" not in event.data["ocsf"]
    assert validate("exmail.event/1", event.to_dict()) == []


def test_pipeline_error_scrubs_secrets(samples: Any) -> None:
    event = normalize(samples.pipeline_error(
        message="GET /cgi-bin/gettoken?corpid=wm1&corpsecret=S3cr3tValue failed",
        errmsg="invalid access_token=AbCdEf123, hint"))
    text = event.encode().decode()
    assert "S3cr3tValue" not in text and "AbCdEf123" not in text
    assert "corpsecret=***" in event.data["error"]["message"]


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
