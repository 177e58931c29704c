"""useroption snapshots: changes, drift, plain snapshots."""

from __future__ import annotations

from typing import Any

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize


def test_changed_options_are_a_configuration_change(samples: Any) -> None:
    event = normalize(samples.options())
    doc = event.data
    assert doc["event"]["category"] == ["configuration"]
    assert doc["event"]["type"] == ["change"]
    assert doc["event"]["action"] == "user-options-changed"
    assert "tags" not in doc
    assert doc["exmail"]["options"]["changed"] == [{"type": 2, "name": "imap_smtp", "from": "0", "to": "1"}]
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["severity_id"]) == (6003, 3, 1)
    assert ocsf["api"]["operation"] == "useroption/update"
    assert {"type": "user_option", "uid": "2", "name": "imap_smtp"} in ocsf["resources"]
    assert validate("exmail.event/1", event.to_dict()) == []


def test_drift_is_tagged_not_alerted(samples: Any) -> None:
    event = normalize(samples.options(changed={}, drift=[{"type": 2, "desired": "0", "actual": "1"},
                                                         {"type": 9, "desired": "1", "actual": None}]))
    doc = event.data
    assert doc["event"]["kind"] == "event"
    assert doc["tags"] == ["policy_drift"]
    assert doc["event"]["action"] == "user-options-drift"
    assert doc["event"]["type"] == ["info"]
    assert "option 2 (imap_smtp) is '1', policy wants '0'" in doc["event"]["reason"]
    assert "option 9 (unknown_9) is None" in doc["event"]["reason"]
    assert (doc["ocsf"]["activity_id"], doc["ocsf"]["severity_id"]) == (2, 3)
    assert doc["exmail"]["options"]["drift"][1] == {"type": 9, "name": "unknown_9", "desired": "1", "actual": None}
    assert validate("exmail.event/1", event.to_dict()) == []


def test_drift_names_the_policy_rule(samples: Any) -> None:
    event = normalize(samples.options(changed={}, drift=[
        {"type": 2, "desired": "0", "actual": "1", "rule": "department:研发中心"}]))
    doc = event.data
    assert doc["exmail"]["options"]["drift"] == [{"type": 2, "name": "imap_smtp", "desired": "0", "actual": "1",
                                                  "rule": "department:研发中心"}]
    assert "policy wants '0' (rule department:研发中心)" in doc["event"]["reason"]
    assert validate("exmail.event/1", event.to_dict()) == []


def test_change_with_drift(samples: Any) -> None:
    doc = normalize(samples.options(drift=[{"type": 2, "desired": "0", "actual": "1"}])).data
    assert doc["event"]["action"] == "user-options-changed"
    assert doc["tags"] == ["policy_drift"]
    uids = [r.get("uid") for r in doc["ocsf"]["resources"]]
    assert uids.count("2") == 1


def test_first_snapshot(samples: Any) -> None:
    event = normalize(samples.options(previous=None, changed={"1": {"from": None, "to": "0"}}))
    assert event.data["exmail"]["options"]["changed"][0]["from"] is None
    assert validate("exmail.event/1", event.to_dict()) == []


def test_plain_snapshot(samples: Any) -> None:
    event = normalize(samples.options(changed={}, drift=[]))
    assert event.data["event"]["action"] == "user-options-snapshot"
    assert event.data["ocsf"]["activity_id"] == 2
    assert validate("exmail.event/1", event.to_dict()) == []
