"""Every emitted ECS field exists in ECS (schemas/reference/ecs-fields.json) with an allowed value and the
right array-ness; every OCSF object follows the class definitions (schemas/reference/ocsf-classes.json)."""

from __future__ import annotations

from typing import Any

from pipeline.envelope import Envelope
from pipeline.transforms.normalize import normalize

NON_ECS_ROOTS = {"exmail", "ocsf", "labels"}
# Attributes the four classes get from their category (IAM: actor, src_endpoint) or from the
# security_control profile (disposition); OCSF 1.9 defines them outside the class files.
OCSF_EXTRA_ATTRIBUTES = {
    3001: {"actor", "src_endpoint"},
    3002: {"actor", "src_endpoint"},
    4009: {"disposition", "disposition_id"},
    6003: set(),
    0: set(),
}
OCSF_CAPTIONS = {"activity_id": "activity_name", "severity_id": "severity", "status_id": "status",
                 "type_uid": "type_name", "class_uid": "class_name", "category_uid": "category_name",
                 "direction_id": "direction", "disposition_id": "disposition", "logon_type_id": "logon_type"}


def _leaves(obj: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in obj.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out += _leaves(value, f"{path}.")
        else:
            out.append((path, value))
    return out


def test_ecs_field_names_values_and_arrays(enum_sample: Envelope, ecs_fields: dict[str, Any]) -> None:
    fields = ecs_fields["fields"]
    doc = normalize(enum_sample).data
    assert doc["ecs"]["version"] == ecs_fields["ecs_version"]
    checked = 0
    for path, value in _leaves({k: v for k, v in doc.items() if k not in NON_ECS_ROOTS}):
        assert path in fields, f"{path} is not an ECS field"
        spec = fields[path]
        is_array = "array" in spec.get("normalize", [])
        assert isinstance(value, list) == is_array, f"{path}: array-ness differs from ECS"
        for item in value if isinstance(value, list) else [value]:
            assert not isinstance(item, dict | list), f"{path} holds a nested value"
            if "allowed" in spec:
                assert item in spec["allowed"], f"{path}={item!r} is not an allowed ECS value"
            if spec["type"] in ("keyword", "match_only_text", "wildcard", "ip", "date"):
                assert isinstance(item, str), f"{path} must be a string for ECS type {spec['type']}"
            if spec["type"] == "long":
                assert isinstance(item, int), f"{path} must be an integer"
        checked += 1
    for required in ("@timestamp", "event.kind", "event.category", "event.type", "event.action"):
        assert required in dict(_leaves(doc))
    assert checked > 10


def test_ocsf_class_structure(enum_sample: Envelope, ocsf_classes: dict[str, Any]) -> None:
    ocsf = normalize(enum_sample).data["ocsf"]
    class_uid, activity_id = ocsf["class_uid"], ocsf["activity_id"]
    assert ocsf["type_uid"] == class_uid * 100 + activity_id
    assert ocsf["type_name"] == f"{ocsf['class_name']}: {ocsf['activity_name']}"
    assert ocsf["category_uid"] * 1000 <= class_uid < (ocsf["category_uid"] + 1) * 1000
    base = ocsf_classes["base_event"]["attributes"]
    for name, requirement in base.items():
        if requirement == "required":
            assert name in ocsf, f"base attribute {name} is required"
    assert {"product", "version"} <= set(ocsf["metadata"])
    allowed = set(base) | OCSF_EXTRA_ATTRIBUTES[class_uid] | set(OCSF_CAPTIONS.values())
    if class_uid == 0:
        assert (ocsf["class_name"], ocsf["category_uid"]) == ("Base Event", 0)
        assert activity_id in (0, 99)
    else:
        spec = ocsf_classes["classes"][str(class_uid)]
        assert ocsf["class_name"] == spec["caption"]
        assert ocsf["category_uid"] == spec["category_uid"]
        for name, requirement in spec["attributes"].items():
            if requirement == "required":
                assert name in ocsf, f"{class_uid} requires {name}"
        allowed |= set(spec["attributes"])
        if activity_id == 99:
            assert ocsf["activity_name"] not in spec["activity_id"].values()
        elif activity_id == 0:
            assert ocsf["activity_name"] == "Unknown"
        else:
            assert ocsf["activity_name"] == spec["activity_id"][str(activity_id)]
    assert set(ocsf) <= allowed, f"attributes outside class {class_uid}: {set(ocsf) - allowed}"


def test_ocsf_status_and_severity_captions(enum_sample: Envelope) -> None:
    ocsf = normalize(enum_sample).data["ocsf"]
    statuses = {0: "Unknown", 1: "Success", 2: "Failure", 99: "Other"}
    severities = {0: "Unknown", 1: "Informational", 2: "Low", 3: "Medium", 4: "High", 5: "Critical", 6: "Fatal"}
    assert ocsf["status"] == statuses[ocsf["status_id"]]
    assert ocsf["severity"] == severities[ocsf["severity_id"]]


def test_ecs_outcome_agrees_with_ocsf_status(enum_sample: Envelope) -> None:
    doc = normalize(enum_sample).data
    outcome = doc["event"].get("outcome")
    status_id = doc["ocsf"]["status_id"]
    expected = {"success": {1}, "failure": {2}, "unknown": {0, 99}, None: {0}}[outcome]
    assert status_id in expected
