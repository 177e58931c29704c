"""mail_status: the daily mail volume of a domain, normalized as a metric event."""

from __future__ import annotations

from typing import Any

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
