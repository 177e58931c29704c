"""The schema registry: every schema is a valid 2020-12 schema, names resolve, validators are cached, errors
carry JSON paths, and the envelopes other stages produce (DLQ) validate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from pipeline import schema_registry
from pipeline.dlq import Origin, dead_letter
from pipeline.records import EVENT_SCHEMA, HR_SCHEMA, RAW_SCHEMAS
from pipeline.schema_registry import UnknownSchemaError, schema, schema_names, validate, validator

from .transforms.normalize.conftest import Samples

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def samples() -> Samples:
    """The normalize tests' sample records (tests/unit/transforms/normalize/conftest.py): the envelopes every
    stage produces, validated here against their schemas."""
    return Samples()


def test_every_topic_has_a_schema() -> None:
    expected = {*RAW_SCHEMAS.values(), HR_SCHEMA, EVENT_SCHEMA, "exmail.dlq/1", "envelope/1", "exmail.action/1",
                "exmail.alert/1", "exmail.notification/1", "exmail.operator/1"}
    assert set(schema_names()) == expected


@pytest.mark.parametrize("name", schema_registry.schema_names())
def test_schema_files_are_valid_draft_2020_12(name: str) -> None:
    contents = schema(name)
    Draft202012Validator.check_schema(contents)
    assert contents["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert contents["title"] == name
    if name != "envelope/1":
        assert contents["properties"]["schema"]["const"] == name


def test_files_are_versioned_and_found_by_path_alias() -> None:
    files = sorted(p.relative_to(REPO / "schemas").as_posix() for p in (REPO / "schemas").rglob("*.v1.json"))
    assert "raw/mail_log.v1.json" in files and "event.v1.json" in files and "dlq.v1.json" in files
    assert schema("raw/mail_log.v1") is schema("exmail.raw.mail_log/1")


def test_validators_are_compiled_once() -> None:
    assert validator("exmail.event/1") is validator("exmail.event/1")


def test_unknown_schema_name() -> None:
    with pytest.raises(UnknownSchemaError, match=r"no schema named 'exmail\.raw\.nope/1'; known: .*envelope/1"):
        validate("exmail.raw.nope/1", {})


def test_errors_have_json_paths(samples: Any) -> None:
    env = samples.login_log().to_dict()
    env["data"]["record"]["type"] = "web"
    env["data"]["context"]["userid"] = ""
    del env["source"]
    errors = validate("exmail.raw.login_log/1", env)
    assert "$.data.record.type: 'web' is not of type 'integer'" in errors
    assert "$.data.context.userid: '' should be non-empty" in errors
    assert "$: 'source' is a required property" in errors


def test_wrong_schema_const_and_extra_envelope_key(samples: Any) -> None:
    env = samples.mail_log().to_dict()
    env["extra"] = 1
    errors = validate("exmail.raw.login_log/1", env)
    assert any(e.startswith("$.schema:") for e in errors)
    assert any("'extra' was unexpected" in e for e in errors)


def test_raw_ids_must_be_fingerprints(samples: Any) -> None:
    env = samples.login_log().to_dict()
    env["id"] = "not-a-fingerprint"
    assert validate("exmail.raw.login_log/1", env)[0].startswith("$.id:")


def test_dead_letters_validate(samples: Any) -> None:
    raw = samples.mail_log()
    letter = dead_letter(stage="normalize", reason="bad", origin=Origin("exmail.raw.mail_log", 0, 12, "k"),
                         payload=raw.encode(), corp_id=raw.corp_id)
    assert validate("exmail.dlq/1", letter.to_dict()) == []
    unparsable = dead_letter(stage="ingest", reason="not JSON", origin=Origin("exmail.raw.mail_log"),
                             payload=b"\xff{not json")
    assert validate("exmail.dlq/1", unparsable.to_dict()) == []
    broken = letter.to_dict()
    broken["data"]["origin"]["offset"] = -1
    assert validate("exmail.dlq/1", broken) == ["$.data.origin.offset: -1 is less than the minimum of 0"]


def test_event_schema_rejects_non_ecs_values(samples: Any) -> None:
    from pipeline.transforms.normalize import normalize

    event = normalize(samples.login_log()).to_dict()
    event["data"]["event"]["outcome"] = "ok"
    event["data"]["event"]["category"] = ["auth"]
    event["data"]["source"]["ip"] = "999.1.1.1"
    event["data"]["usr"] = {}
    errors = validate("exmail.event/1", event)
    assert any(e.startswith("$.data.event.outcome:") for e in errors)
    assert any(e.startswith("$.data.event.category[0]:") for e in errors)
    assert any(e.startswith("$.data.source.ip:") for e in errors)
    assert any("'usr' was unexpected" in e for e in errors)


def test_event_schema_checks_ocsf_class_requirements(samples: Any) -> None:
    from pipeline.transforms.normalize import normalize

    event = normalize(samples.batchjob_log()).to_dict()
    del event["data"]["ocsf"]["actor"]
    event["data"]["ocsf"]["activity_id"] = 7
    errors = validate("exmail.event/1", event)
    assert "$.data.ocsf: 'actor' is a required property" in errors
    assert any(e.startswith("$.data.ocsf.activity_id:") for e in errors)


def test_schema_dir_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv(schema_registry.SCHEMA_DIR_ENV, str(tmp_path))
    assert schema_registry.schema_dir() == tmp_path
    monkeypatch.delenv(schema_registry.SCHEMA_DIR_ENV)
    assert schema_registry.schema_dir() == REPO / "schemas"
