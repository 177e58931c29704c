"""Intake parsing on its own: trigger envelopes -> action requests, with errors naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from pipeline.actions import ActionInputError, ActionKind, ActionsConfig
from pipeline.actions._intake import alert_request, as_envelope, drift_request, hr_request, security_route
from pipeline.envelope import Envelope, parse_iso

NOW = 1_800_000_000.0
CONFIG = ActionsConfig.model_validate(
    {
        "security": {
            "routes": [
                {"name": "corp2-only", "rules": ["login_hostile_ip"], "labels": {"corp": "corp2"}},
                {"name": "hostile", "rules": ["login_hostile_ip"], "actions": ["disable_account"]},
                {"name": "any-rule", "actions": ["disable_imap"], "target_label": "account"},
            ]
        },
        "drift": {"remediate": True, "types": [1, 2]},
    }
)


def _env(schema: str, data: dict[str, Any], source: str = "hr-system") -> Envelope:
    return Envelope(schema=schema, id="rec-1", corp_id="corp1", source=source, occurred_at="2026-12-07T10:00:00Z",
                    data=data)


def _hr(**data: Any) -> Envelope:
    base = {"event": "joiner", "request_id": "R1", "employee_id": "E1", "userid": "new@corp.example.com"}
    return _env("hr.lifecycle/1", {**base, **data})


def test_as_envelope_accepts_the_three_forms_and_checks_the_schema():
    env = _hr()
    assert as_envelope(env, "hr.lifecycle/1") is env
    assert as_envelope(env.to_dict(), "hr.lifecycle/1").id == "rec-1"
    assert as_envelope(env.encode(), "hr.lifecycle/1").data == env.data
    with pytest.raises(ActionInputError, match=r"expected schema 'exmail.alert/1', got 'hr.lifecycle/1'"):
        as_envelope(env, "exmail.alert/1")
    with pytest.raises(ActionInputError, match="not a valid envelope"):
        as_envelope(b"{not json", "hr.lifecycle/1")


def test_hr_request_fields():
    request = hr_request(_hr(aliases=[" A@corp.example.com ", ""], effective_at="2027-01-01T00:00:00Z",
                             name=" New Hire "), NOW)
    assert request.kind is ActionKind.JOINER and request.target == "new@corp.example.com"
    assert request.requested_by == "hr:hr-system" and request.trigger.ref == "R1/E1"
    assert request.params["aliases"] == ["a@corp.example.com"] and request.params["name"] == "New Hire"
    assert request.not_before == parse_iso("2027-01-01T00:00:00Z").timestamp()
    assert hr_request(_hr(), NOW).id == hr_request(_hr(), NOW + 60).id  # deterministic: replays find the entry


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"event": "retire"}, "data.event must be one of"),
        ({"employee_id": None}, "data.employee_id is required"),
        ({"userid": "  "}, "data.userid must be a non-empty string"),
        ({"userid": "nobody"}, "data.userid must be a mailbox address"),
        ({"aliases": "a@b"}, "data.aliases must be a list of strings"),
        ({"effective_at": "next monday"}, "data.effective_at must be an RFC 3339 time"),
    ],
)
def test_hr_request_errors_name_the_field(data, message):
    with pytest.raises(ActionInputError, match=message):
        hr_request(_hr(**data), NOW)


def test_security_route_first_match_with_labels():
    hostile = ActionKind.DISABLE_ACCOUNT
    assert security_route(CONFIG, hostile, "login_hostile_ip", {"corp": "corp2"}).name == "corp2-only"
    assert security_route(CONFIG, hostile, "login_hostile_ip", {"corp": "corp1"}).name == "hostile"
    assert security_route(CONFIG, ActionKind.DISABLE_IMAP, "whatever", {}).name == "any-rule"
    assert security_route(CONFIG, ActionKind.DISABLE_POP, "whatever", {}) is None


def _alert(labels: dict[str, str], **data: Any) -> Envelope:
    base = {"rule": "login_hostile_ip", "labels": {"alertname": "login_hostile_ip", **labels},
            "annotations": {"summary": "hostile login"}, "fingerprint": "fp1", "starts_at": "2026-12-07T10:00:00Z"}
    return _env("exmail.alert/1", {**base, **data}, source="pipeline.transforms.rules")


def test_alert_request_aliases_route_and_target_label():
    intake = alert_request(CONFIG, _alert({"user": "u@corp.example.com"}), "disable_user", NOW)
    assert intake.route is not None and intake.route.name == "hostile" and intake.rule == "login_hostile_ip"
    request = intake.request
    assert request.kind is ActionKind.DISABLE_ACCOUNT and request.target == "u@corp.example.com"
    assert request.reason == "hostile login" and request.trigger.ref == "fp1@2026-12-07T10:00:00Z"
    assert request.params["alert"]["route"] == "hostile"
    imap = alert_request(CONFIG, _alert({"account": "a@corp.example.com"}, rule="other"), "disable_imap", NOW)
    assert imap.request.target == "a@corp.example.com" and imap.route is not None
    refused = alert_request(CONFIG, _alert({"user": "u@corp.example.com"}), "disable_pop", NOW)
    assert refused.route is None and refused.request.params["alert"]["route"] is None


@pytest.mark.parametrize(
    ("labels", "name", "message"),
    [
        ({"user": "u@corp.example.com"}, "reboot", "data.action 'reboot' is not an action"),
        ({"user": "u@corp.example.com"}, 5, "data.action 5 is not an action"),
        ({"user": "nobody"}, "disable_account", "no account in label 'user'"),
    ],
)
def test_alert_request_errors(labels, name, message):
    with pytest.raises(ActionInputError, match=message):
        alert_request(CONFIG, _alert(labels), name, NOW)


def test_alert_labels_must_be_strings():
    with pytest.raises(ActionInputError, match=r"data.labels must map strings to strings"):
        alert_request(CONFIG, _alert({"user": "u@corp.example.com", "count": 3}), "disable_account", NOW)


def _options(drift: Any) -> Envelope:
    return _env("exmail.raw.options/1", {"userid": "u@corp.example.com", "drift": drift},
                source="pipeline.sources.options")


def test_drift_request_keeps_configured_drifted_types_only():
    request = drift_request(CONFIG, _options([
        {"type": 1, "desired": "1", "actual": "0"},
        {"type": 2, "desired": "0", "actual": "0"},  # not drifted
        {"type": 3, "desired": "0", "actual": "1"},  # not a remediated type in this config
    ]), NOW)
    assert request is not None and request.params == {"desired": {"1": "1"}}
    assert request.kind is ActionKind.REMEDIATE_DRIFT and request.reason.endswith("type 1 should be 1")
    assert drift_request(CONFIG, _options([{"type": 2, "desired": "0", "actual": "0"}]), NOW) is None


@pytest.mark.parametrize(
    ("drift", "message"),
    [("x", "data.drift must be a list"), ([{"type": "1", "desired": "1"}], "integer type and a string desired")],
)
def test_drift_request_errors(drift, message):
    with pytest.raises(ActionInputError, match=message):
        drift_request(CONFIG, _options(drift), NOW)
