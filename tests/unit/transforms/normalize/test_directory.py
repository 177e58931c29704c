"""Directory changes: every object type x change, names, user changes."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.schema_registry import validate
from pipeline.transforms.normalize import normalize

USER_EXPECTED = {  # change -> (event.type, ocsf activity_id)
    "created": (["user", "creation"], 1),
    "updated": (["user", "change"], 99),
    "disabled": (["user", "change"], 5),
    "enabled": (["user", "change"], 2),
    "deleted": (["user", "deletion"], 6),
}
GROUP_EXPECTED = {
    "created": (["group", "creation"], 1),
    "updated": (["group", "change"], 3),
    "disabled": (["group", "change"], 3),
    "enabled": (["group", "change"], 3),
    "deleted": (["group", "deletion"], 4),
}


@pytest.mark.parametrize("change", sorted(USER_EXPECTED))
def test_user_change(samples: Any, change: str) -> None:
    event = normalize(samples.directory("user", change))
    doc = event.data
    types, activity_id = USER_EXPECTED[change]
    assert doc["event"]["category"] == ["iam"]
    assert doc["event"]["type"] == types
    assert doc["event"]["action"] == f"user-{change}"
    assert doc["event"]["outcome"] == "success"
    assert doc["user"]["id"] == "carol@example.com"
    assert doc["user"]["full_name"] == ("Carol" if change == "deleted" else "Carol Chen")
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (3001, activity_id, 300100 + activity_id)
    assert ocsf["user"]["uid"] == "carol@example.com"
    assert ("user_result" in ocsf) == (change != "deleted")
    assert doc["exmail"]["directory"]["change"] == change
    assert validate("exmail.event/1", event.to_dict()) == []


@pytest.mark.parametrize("object_type", ["department", "group"])
@pytest.mark.parametrize("change", sorted(GROUP_EXPECTED))
def test_department_and_group_change(samples: Any, object_type: str, change: str) -> None:
    raw = samples.directory(object_type, change)
    event = normalize(raw)
    doc = event.data
    types, activity_id = GROUP_EXPECTED[change]
    assert doc["event"]["type"] == types
    assert doc["event"]["action"] == f"{object_type}-{change}"
    assert doc["group"]["id"] == raw.data["object_id"]
    assert "user" not in doc
    ocsf = doc["ocsf"]
    assert (ocsf["class_uid"], ocsf["activity_id"], ocsf["type_uid"]) == (6003, activity_id, 600300 + activity_id)
    assert ocsf["resources"][0]["type"] == ("department" if object_type == "department" else "mail_group")
    assert ocsf["resources"][0]["uid"] == raw.data["object_id"]
    assert ocsf["actor"] == {"app_name": "Tencent Exmail"}
    assert validate("exmail.event/1", event.to_dict()) == []


def test_renamed_user_has_user_changes(samples: Any) -> None:
    doc = normalize(samples.directory("user", "updated")).data
    assert doc["user"]["changes"] == {"full_name": "Carol Chen"}
    assert doc["ocsf"]["activity_name"] == "Update"
    assert doc["exmail"]["directory"]["before"]["name"] == "Carol"


def test_group_name_comes_from_groupname(samples: Any) -> None:
    doc = normalize(samples.directory("group", "updated")).data
    assert doc["group"] == {"id": "sales@example.com", "name": "Sales team"}


def test_big_department_ids_survive(samples: Any) -> None:
    event = normalize(samples.directory("department", "updated"))
    assert event.data["exmail"]["directory"]["after"]["id"] == 4913577855806636200
    assert event.data["group"]["id"] == "4913577855806636200"
