"""Mail log: every status in both directions, field mapping, unknown values."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

# status -> (status_name, event.action, event.outcome, ocsf.status_id, ocsf.disposition_id)
EXPECTED: dict[int, tuple[str, str, str, int, int | None]] = {
    0: ("other", "mail-other", "unknown", 99, None),
    1: ("sending", "mail-sending", "unknown", 0, None),
    2: ("bounced", "mail-bounced", "failure", 2, None),
    3: ("sent", "mail-sent", "success", 1, None),
    4: ("send_failed", "mail-send-failed", "failure", 2, None),
    11: ("intercepted", "mail-intercepted", "failure", 2, 2),
    12: ("spam", "mail-delivered-spam", "success", 1, 3),
    13: ("inbox", "mail-delivered-inbox", "success", 1, 1),
    14: ("folder", "mail-delivered-folder", "success", 1, 1),
    15: ("unknown", "mail-unknown-status", "unknown", 0, None),
    -1: ("unknown", "mail-unknown-status", "unknown", 0, None),
}
# mailtype -> (email.direction, subject user, ocsf activity_id, ocsf direction_id)
DIRECTIONS = {1: ("outbound", "alice@example.com", 1, 2), 2: ("inbound", "bob@partner.com", 2, 1)}


@pytest.mark.parametrize("mailtype", [1, 2])
@pytest.mark.parametrize("status", sorted(EXPECTED))
def test_mail_status_and_direction(samples: Any, mailtype: int, status: int) -> None:
    raw = samples.mail_log(mailtype=mailtype, status=status)
    event = normalize(raw)
    doc = event.data
    name, action, outcome, status_id, disposition_id = EXPECTED[status]
    direction, subject_user, activity_id, direction_id = DIRECTIONS[mailtype]

    assert doc["exmail"]["mail"]["status"] == status
    assert doc["exmail"]["mail"]["status_name"] == name
    assert doc["exmail"]["mail"]["mailtype_name"] == ("sent" if mailtype == 1 else "received")
    assert doc["event"]["action"] == action
    assert doc["event"]["outcome"] == outcome
    assert doc["event"]["category"] == ["email"] and doc["event"]["type"] == ["info"]
    assert doc["email"]["direction"] == direction
    assert doc["user"]["id"] == subject_user
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (4009, activity_id, 400900 + activity_id)
    assert ocsf["activity_name"] == ("Send" if mailtype == 1 else "Receive")
    assert ocsf["direction_id"] == direction_id
    assert ocsf["status_id"] == status_id
    assert ocsf["status_code"] == str(status)
    assert ocsf.get("disposition_id") == disposition_id
    if disposition_id is not None:
        assert ocsf["metadata"]["profiles"] == ["security_control"]
    assert validate("exmail.event/1", event.to_dict()) == []


def test_mail_fields(samples: Any) -> None:
    doc = normalize(samples.mail_log(mailtype=1, status=3)).data
    assert doc["email"]["from"] == {"address": ["alice@example.com"]}
    assert doc["email"]["to"] == {"address": ["bob@partner.com"]}
    assert doc["email"]["subject"] == "Quarterly report"
    assert doc["email"]["delivery_timestamp"] == "2025-11-29T18:04:36.000Z"
    assert doc["@timestamp"] == "2025-11-29T18:04:36.000Z"
    assert doc["user"] == {"id": "alice@example.com", "name": "alice", "email": "alice@example.com",
                           "domain": "example.com"}
    assert doc["related"] == {"user": ["alice@example.com", "bob@partner.com"]}
    assert doc["ocsf"]["email"] == {"from": "alice@example.com", "to": ["bob@partner.com"],
                                    "subject": "Quarterly report"}
    assert doc["ocsf"]["time"] == 1764439476000
    assert doc["exmail"]["log"] == {"date": "2025-11-29", "query_mailtype": 0}
    assert "Quarterly report" not in doc["message"]


def test_mail_without_subject_and_with_unknown_api_fields(samples: Any) -> None:
    raw = samples.mail_log(size=2048)
    del raw.data["record"]["subject"]
    event = normalize(raw)
    assert "subject" not in event.data["email"]
    assert event.data["exmail"]["mail"]["size"] == 2048
    assert validate("exmail.event/1", event.to_dict()) == []


def test_empty_sender_is_left_out(samples: Any) -> None:
    event = normalize(samples.mail_log(mailtype=2, sender="", status=13))
    assert "from" not in event.data["email"]
    assert event.data["related"] == {"user": ["bob@partner.com"]}
    assert validate("exmail.event/1", event.to_dict()) == []
