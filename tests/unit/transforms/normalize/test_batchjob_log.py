"""Batch-job log: every type 0..9 and an unknown one; status kept, outcome unknown."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

# type -> (type_name, event.category, event.type, event.action, ocsf activity_id)
EXPECTED = {
    0: ("other", ["configuration"], ["info"], "batch-other", 99),
    1: ("mass_mail", ["email"], ["info"], "batch-mass-mail", 1),
    2: ("import_members", ["iam"], ["user", "creation"], "batch-import-members", 1),
    3: ("delete_announcement", ["configuration"], ["deletion"], "batch-delete-announcement", 4),
    4: ("add_aliases", ["iam"], ["user", "change"], "batch-add-aliases", 3),
    5: ("publish_announcement", ["configuration"], ["creation"], "batch-publish-announcement", 1),
    6: ("rtx_binding", ["iam"], ["user", "change"], "batch-rtx-binding", 3),
    7: ("set_signature", ["configuration"], ["change"], "batch-set-signature", 3),
    8: ("cancel_signature", ["configuration"], ["deletion"], "batch-cancel-signature", 4),
    9: ("activate_members", ["iam"], ["user", "change"], "batch-activate-members", 3),
    10: ("unknown", ["configuration"], ["info"], "batch-unknown", 0),
}


@pytest.mark.parametrize("job_type", sorted(EXPECTED))
def test_batchjob_type(samples: Any, job_type: int) -> None:
    event = normalize(samples.batchjob_log(type=job_type, status=1))
    doc = event.data
    name, category, types, action, activity_id = EXPECTED[job_type]
    assert doc["exmail"]["batchjob"] == {"time": 1764439476, "operator": "admin@example.com", "type": job_type,
                                         "status": 1, "type_name": name}
    assert (doc["event"]["category"], doc["event"]["type"], doc["event"]["action"]) == (category, types, action)
    assert doc["event"]["outcome"] == "unknown"
    assert doc["event"]["code"] == str(job_type)
    assert doc["user"]["id"] == "admin@example.com"
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (6003, activity_id, 600300 + activity_id)
    assert (ocsf["status_id"], ocsf["status_code"]) == (0, "1")
    assert ocsf["actor"]["user"]["uid"] == "admin@example.com"
    assert ocsf["resources"] == [{"type": "batch_job", "name": name}]
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize("status", [None, "done", 0])
def test_batchjob_status_values(samples: Any, status: Any) -> None:
    raw = samples.batchjob_log(status=status)
    event = normalize(raw)
    assert event.data["exmail"]["batchjob"]["status"] == status
    assert event.data["ocsf"].get("status_code") == (None if status is None else str(status))
    assert validate("exmail.event/1", event.to_dict()) == []


def test_batchjob_without_status_field(samples: Any) -> None:
    raw = samples.batchjob_log()
    del raw.data["record"]["status"]
    event = normalize(raw)
    assert "status_code" not in event.data["ocsf"]
    assert validate("exmail.event/1", event.to_dict()) == []
