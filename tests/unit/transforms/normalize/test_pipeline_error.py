"""pipeline_error records: the pipeline's own failures as events, with gap risk and secrets scrubbed."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize


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
