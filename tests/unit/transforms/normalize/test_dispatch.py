"""The dispatcher: envelope carried over, raw and event schemas hold for every enum value, malformed records
raise NormalizeError with a clear reason (and fail the raw schema too), enrichment, keys, determinism."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.envelope import Envelope
from pipeline.records import EVENT_SCHEMA
from pipeline.schema_registry import validate
from pipeline.transforms import normalize as normalize_pkg
from pipeline.transforms.normalize import DirectoryUser, NormalizeError, event_key, normalize


def test_every_sample_validates_raw_and_event_and_keeps_the_envelope(enum_sample: Envelope) -> None:
    raw = enum_sample
    assert validate(raw.schema, raw.to_dict()) == []
    event = normalize(raw)
    assert event.schema == EVENT_SCHEMA
    assert (event.id, event.corp_id, event.source, event.occurred_at, event.observed_at) == (
        raw.id, raw.corp_id, raw.source, raw.occurred_at, raw.observed_at)
    doc = event.data
    assert doc["event"]["id"] == raw.id
    assert doc["ocsf"]["metadata"]["uid"] == raw.id
    assert doc["@timestamp"] == raw.occurred_at
    assert doc["event"]["created"] == raw.observed_at
    assert doc["organization"] == {"id": raw.corp_id}
    assert doc["ocsf"]["metadata"]["tenant_uid"] == raw.corp_id
    assert doc["event"]["module"] == "exmail"
    assert doc["event"]["dataset"] == doc["ocsf"]["metadata"]["log_name"]
    assert validate(EVENT_SCHEMA, event.to_dict()) == []
    assert Envelope.decode(event.encode()) == event


def test_normalize_is_deterministic(samples: Any) -> None:
    raw = samples.mail_log()
    assert normalize(raw).encode() == normalize(Envelope.decode(raw.encode())).encode()


def test_normalize_does_not_change_the_raw_record(samples: Any, all_samples: list[tuple[str, Envelope]]) -> None:
    for _, raw in all_samples:
        before = raw.encode()
        event = normalize(raw)
        event.data["event"]["category"].append("web")
        assert raw.encode() == before
    assert normalize(samples.operation_log(type=19)).data["event"]["category"] == ["iam"]


def test_unknown_schema(samples: Any) -> None:
    raw = samples.mail_log()
    for schema in ("exmail.raw.mail_log/2", "exmail.raw.nope/1"):
        raw.schema = schema
        with pytest.raises(NormalizeError, match=r"unknown schema '.*'; known: .*exmail.raw.mail_log/1"):
            normalize(raw)


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        node[last] = value
    return apply


def _drop(path: str) -> Callable[[dict[str, Any]], None]:
    def apply(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = data
        for p in parents:
            node = node[p]
        del node[last]
    return apply


# (kind, factory kwargs, mutation of data, expected reason fragment)
MALFORMED: list[tuple[str, dict[str, Any], Callable[[dict[str, Any]], None], str]] = [
    ("mail_log", {}, _drop("record"), "data.record is missing"),
    ("mail_log", {}, _set("record", []), "data.record must be an object, got array"),
    ("mail_log", {}, _drop("context"), "data.context is missing"),
    ("mail_log", {}, _set("context.date", "29/11/2025"), "data.context.date must be a date YYYY-MM-DD"),
    ("mail_log", {}, _drop("record.status"), "data.record.status is missing"),
    ("mail_log", {}, _set("record.status", "3"), "data.record.status must be an integer, got string"),
    ("mail_log", {}, _set("record.status", True), "data.record.status must be an integer, got boolean"),
    ("mail_log", {}, _set("record.status", 3.5), "data.record.status must be an integer, got number"),
    ("mail_log", {}, _set("record.mailtype", 3), "data.record.mailtype must be 1 (sent) or 2 (received), got 3"),
    ("mail_log", {}, _set("record.time", -5), "data.record.time must be >= 0"),
    ("mail_log", {}, _set("record.time", None), "data.record.time must be an integer, got null"),
    ("mail_log", {}, _set("record.sender", 12), "data.record.sender must be a string, got integer"),
    ("mail_log", {}, _set("record.subject", ["x"]), "data.record.subject must be a string or null, got array"),
    ("login_log", {}, _drop("context.userid"), "data.context.userid is missing"),
    ("login_log", {}, _set("context.userid", ""), "data.context.userid must not be empty"),
    ("login_log", {}, _set("record.ip", None), "data.record.ip must be a string, got null"),
    ("login_log", {}, _set("record.type", "web"), "data.record.type must be an integer, got string"),
    ("operation_log", {}, _set("record.operator", ""), "data.record.operator must not be empty"),
    ("operation_log", {}, _set("record.remark", {"a": 1}), "data.record.remark must be a string, integer or null"),
    ("operation_log", {}, _drop("record.type"), "data.record.type is missing"),
    ("batchjob_log", {}, _set("record.status", [1]), "data.record.status must be an integer, string or null"),
    ("batchjob_log", {}, _drop("record.operator"), "data.record.operator is missing"),
    ("mail_status", {}, _set("record.sendsum", -1), "data.record.sendsum must be >= 0"),
    ("mail_status", {}, _drop("context.domain"), "data.context.domain is missing"),
    ("new_mail", {}, _set("via", "push"), "data.via must be one of callback, poll"),
    ("new_mail", {}, _set("msg_type", "NewCount"), "data.msg_type must be one of Mail, UnRead when via is callback"),
    ("new_mail", {}, _set("mail_id", None), "data.mail_id is required for a Mail push"),
    ("new_mail", {}, _set("new_count", None), "data.new_count is required for a Mail push"),
    ("new_mail", {}, _set("correlation_key", None), "data.correlation_key is required for Mail"),
    ("new_mail", {"msg_type": "UnRead"}, _set("unread_count", None), "data.unread_count is required"),
    ("new_mail", {"msg_type": "NewCount"}, _set("new_count", "5"), "data.new_count must be an integer, got string"),
    ("new_mail", {}, _drop("userid"), "data.userid is missing"),
    ("directory", {}, _set("object_type", "tag"), "data.object_type must be one of user, department, group"),
    ("directory", {}, _set("change", "moved"), "data.change must be one of created, updated"),
    ("directory", {}, _set("after", None), "data.after must be an object for change 'created'"),
    ("directory", {"change": "deleted"}, _set("before", None), "data.before must be an object for a deletion"),
    ("directory", {}, _drop("before"), "data.before is missing"),
    ("directory", {}, _set("changed_fields", "name"), "data.changed_fields must be an array of strings"),
    ("directory", {}, _set("snapshot_at", "yesterday"), "data.snapshot_at must be an RFC 3339 timestamp"),
    ("directory", {}, _set("snapshot_at", "2025-13-40T00:00:00Z"), "data.snapshot_at is not a valid date-time"),
    ("options", {}, _set("options", {"imap": "1"}), "data.options keys must be option types"),
    ("options", {}, _set("options", {"2": 1}), "data.options.2 must be a string, got integer"),
    ("options", {}, _drop("previous"), "data.previous is missing"),
    ("options", {}, _set("changed", {"2": {"to": "1"}}), "data.changed.2.from is missing"),
    ("options", {}, _set("drift", None), "data.drift is missing"),
    ("options", {}, _set("drift", [{"type": "2", "desired": "0", "actual": "1"}]),
     "data.drift[0].type must be an integer, got string"),
    ("pipeline_error", {}, _set("gap_risk", "yes"), "data.gap_risk must be true or false, got string"),
    ("pipeline_error", {}, _drop("errcode"), "data.errcode is missing"),
    ("pipeline_error", {}, _set("window", {"begin_date": "2025-11-28"}), "data.window.end_date is missing"),
    ("hr", {}, _set("event", "retiree"), "data.event must be one of joiner, mover, leaver"),
    ("hr", {}, _set("employee_id", ""), "data.employee_id must not be empty"),
    ("hr", {}, _set("aliases", "a@example.com"), "data.aliases must be an array of strings"),
]


@pytest.mark.parametrize(("kind", "kwargs", "mutate", "reason"), MALFORMED,
                         ids=[f"{m[0]}:{m[3][:40]}" for m in MALFORMED])
def test_malformed_records_raise_with_a_clear_reason(samples: Any, mutable: Any, kind: str, kwargs: dict[str, Any],
                                                     mutate: Callable[[dict[str, Any]], None], reason: str) -> None:
    raw = getattr(samples, kind)(**kwargs)
    raw.data = mutable(raw.data)
    mutate(raw.data)
    with pytest.raises(NormalizeError) as info:
        normalize(raw)
    assert info.value.reason.startswith(f"{raw.schema}: ")
    assert reason in info.value.reason
    assert validate(raw.schema, raw.to_dict()) != [], "the raw schema must reject what normalize rejects"


@pytest.mark.parametrize("field", ["occurred_at", "observed_at"])
def test_bad_envelope_times_raise(samples: Any, field: str) -> None:
    raw = samples.login_log()
    setattr(raw, field, "not a time")
    with pytest.raises(NormalizeError, match=f"{field} must be an RFC 3339 timestamp"):
        normalize(raw)


def test_reason_does_not_echo_free_text_values(samples: Any) -> None:
    raw = samples.mail_log()
    raw.data["record"]["sender"] = {"password": "hunter2-secret"}
    with pytest.raises(NormalizeError) as info:
        normalize(raw)
    assert "hunter2" not in str(info.value)


def test_unexpected_mapper_errors_become_normalize_errors(samples: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(raw: Envelope) -> dict[str, Any]:
        raise TypeError("boom")

    monkeypatch.setitem(normalize_pkg.MAPPERS, "exmail.raw.mail_log/1", broken)
    with pytest.raises(NormalizeError, match=r"exmail.raw.mail_log/1: cannot normalize \(TypeError\)"):
        normalize(samples.mail_log())


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix] if prefix else []
    if isinstance(obj, dict):
        for k, v in obj.items():
            out += _paths(v, (*prefix, k))
    return out


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(index=st.integers(0, 10_000), pick=st.integers(0, 10_000), value=_json, delete=st.booleans())
def test_fuzzed_records_either_normalize_to_a_valid_event_or_raise_normalize_error(
        all_samples: list[tuple[str, Envelope]], index: int, pick: int, value: Any, delete: bool) -> None:
    _, sample = all_samples[index % len(all_samples)]
    raw = Envelope.decode(sample.encode())
    paths = _paths(raw.data)
    path = paths[pick % len(paths)]
    node = raw.data
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    raw_ok = validate(raw.schema, raw.to_dict()) == []
    try:
        event = normalize(raw)
    except NormalizeError:
        assert not raw_ok, f"raw schema accepts what normalize rejects at {path}"
        return
    assert validate(EVENT_SCHEMA, event.to_dict()) == []


class FakeDirectory:
    def __init__(self, users: dict[str, DirectoryUser]) -> None:
        self.users = users
        self.calls: list[tuple[str, str]] = []

    def user(self, corp_id: str, userid: str) -> DirectoryUser | None:
        self.calls.append((corp_id, userid))
        return self.users.get(userid)


DIRECTORY = FakeDirectory({
    "alice@example.com": {"name": "Alice Wang", "department_ids": [4913577855806636138, 1],
                          "department_paths": ["R&D", "Root"], "enable": 1},
    "admin@example.com": {"name": "Admin", "department_ids": [1], "department_paths": ["Root"], "enable": True},
    "carol@example.com": {"name": "Carol Chen", "department_ids": [], "department_paths": [], "enable": 0},
})


def test_enrichment_adds_name_and_department(samples: Any) -> None:
    event = normalize(samples.login_log(), DIRECTORY)
    doc = event.data
    assert doc["user"]["full_name"] == "Alice Wang"
    assert doc["user"]["group"] == {"id": "4913577855806636138", "name": "R&D"}
    assert doc["exmail"]["user"] == {"department_ids": ["4913577855806636138", "1"],
                                     "department_paths": ["R&D", "Root"], "enabled": True}
    assert doc["ocsf"]["user"]["full_name"] == "Alice Wang"
    assert DIRECTORY.calls[-1] == (samples.corp, "alice@example.com")
    assert validate(EVENT_SCHEMA, event.to_dict()) == []


def test_enrichment_of_operator_and_target(samples: Any) -> None:
    event = normalize(samples.operation_log(type=22, operand="carol@example.com"), DIRECTORY)
    doc = event.data
    assert doc["user"]["full_name"] == "Admin"
    assert doc["user"]["target"]["full_name"] == "Carol Chen"
    assert "group" not in doc["user"]["target"]
    assert doc["exmail"]["user"]["enabled"] is True
    assert doc["ocsf"]["actor"]["user"]["full_name"] == "Admin"
    assert doc["ocsf"]["user"]["full_name"] == "Carol Chen"
    assert validate(EVENT_SCHEMA, event.to_dict()) == []


def test_enrichment_never_overwrites_the_record(samples: Any) -> None:
    doc = normalize(samples.hr("mover", userid="alice@example.com"), DIRECTORY).data
    assert doc["user"]["full_name"] == "Dave Li"
    assert doc["user"]["group"] == {"name": "R&D/Mail team"}


def test_unknown_user_and_no_directory(samples: Any) -> None:
    plain = normalize(samples.login_log(userid="nobody@example.com"))
    looked_up = normalize(samples.login_log(userid="nobody@example.com"), DIRECTORY)
    assert plain.data == looked_up.data
    assert "full_name" not in plain.data["user"]


def test_events_without_user_skip_enrichment(samples: Any) -> None:
    calls = len(DIRECTORY.calls)
    normalize(samples.mail_status(), DIRECTORY)
    assert len(DIRECTORY.calls) == calls


@pytest.mark.parametrize(("raw_name", "kwargs", "key"), [
    ("mail_log", {"mailtype": 1}, "alice@example.com"),
    ("mail_log", {"mailtype": 2}, "bob@partner.com"),
    ("login_log", {}, "alice@example.com"),
    ("operation_log", {}, "admin@example.com"),
    ("mail_status", {}, "example.com"),
    ("pipeline_error", {}, "mail_log"),
    ("hr", {}, "dave@example.com"),
])
def test_event_key(samples: Any, raw_name: str, kwargs: dict[str, Any], key: str) -> None:
    event = normalize(getattr(samples, raw_name)(**kwargs))
    assert event_key(event) == f"{samples.corp}/{key}".encode()


def test_event_key_of_a_group_change(samples: Any) -> None:
    event = normalize(samples.directory("department", "created"))
    assert event_key(event) == f"{samples.corp}/4913577855806636200".encode()
