"""The stream catalog (pipeline/streams.py): every list of kinds in the project is derived from it, and a new
log type is one catalog entry plus its client method, mapper and simulator maker (tests/unit/_new_log_type.py,
run in a fresh interpreter because the derived tables are built when their modules load)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import orjson
import pytest

from pipeline import streams
from pipeline.demo._config import POLL_INTERVALS
from pipeline.demo._view import STREAMS as DEMO_STREAMS
from pipeline.ingest.cli import backfill
from pipeline.kafka import TOPICS
from pipeline.records import HR_SCHEMA, LOG_IDENTITY_FIELDS, RAW_SCHEMAS, record_identity
from pipeline.sim._state import LogStore
from pipeline.sim._truth import LOG_KINDS as SIM_LOG_KINDS
from pipeline.sim._truth import context_for
from pipeline.sources.config import LOG_STREAMS, STREAMS, StreamIntervals
from pipeline.sources.logs import LOG_KINDS
from pipeline.transforms.normalize import MAPPERS

REPO = Path(__file__).resolve().parents[2]
LOGS = ["mail_log", "login_log", "operation_log", "batchjob_log"]


def test_the_product_kinds_and_their_tables() -> None:
    assert list(RAW_SCHEMAS) == [*LOGS, "mail_status", "new_mail", "directory", "options", "pipeline_error"]
    assert RAW_SCHEMAS["batchjob_log"] == "exmail.raw.batchjob_log/1" and HR_SCHEMA == "hr.lifecycle/1"
    assert LOG_IDENTITY_FIELDS["operation_log"] == ("time", "operator", "type", "operand", "remark")
    assert set(LOG_IDENTITY_FIELDS) == set(LOGS)
    assert list(LOG_STREAMS) == LOGS == list(LOG_KINDS) == list(SIM_LOG_KINDS) == list(LogStore.KINDS)
    assert set(STREAMS) == {*LOGS, "mail_status", "directory", "options", "newcount"}
    assert StreamIntervals().model_dump() == {"mail_log": 60.0, "login_log": 600.0, "operation_log": 300.0,
                                              "batchjob_log": 300.0, "mail_status": 3600.0, "directory": 900.0,
                                              "options": 3600.0}
    assert set(MAPPERS) == {*RAW_SCHEMAS.values(), HR_SCHEMA}
    assert {s.topic for s in streams.catalog().values()} <= {t.name for t in TOPICS}
    assert set(POLL_INTERVALS) == set(StreamIntervals().model_dump())
    assert (*LOGS, "mail_status", "new_mail", "directory", "options") == DEMO_STREAMS
    choice = next(p for p in backfill.params if p.name == "streams").type
    assert isinstance(choice, click.Choice) and list(choice.choices) == LOGS


def test_every_raw_kind_has_its_schema_file() -> None:
    for kind in RAW_SCHEMAS:
        assert (REPO / "schemas" / "raw" / f"{kind}.v1.json").is_file(), kind


@pytest.mark.parametrize(("kind", "userid", "expected"), [
    ("mail_log", None, {"date": "2026-03-09", "query_mailtype": 0}),
    ("login_log", "a@x.cn", {"userid": "a@x.cn", "date": "2026-03-09"}),
    ("operation_log", None, {"date": "2026-03-09", "query_type": 1}),
    ("batchjob_log", None, {"date": "2026-03-09"}),
])
def test_contexts_are_the_queries(kind: str, userid: str | None, expected: dict[str, Any]) -> None:
    assert context_for(kind, "2026-03-09", userid) == expected
    assert list(context_for(kind, "2026-03-09", userid)) == list(expected)  # key order as stored before


@pytest.mark.parametrize(("record", "subject"), [
    ({"mailtype": 1, "sender": "s@x.cn", "receiver": "r@x.cn"}, "s@x.cn"),
    ({"mailtype": " 1 ", "sender": "s@x.cn", "receiver": "r@x.cn"}, "s@x.cn"),
    ({"mailtype": 2, "sender": "s@x.cn", "receiver": "r@x.cn"}, "r@x.cn"),
    ({"mailtype": True, "sender": "s@x.cn", "receiver": "r@x.cn"}, "r@x.cn"),
    ({"mailtype": 1.0, "sender": "s@x.cn", "receiver": "r@x.cn"}, "r@x.cn"),
    ({"sender": "s@x.cn"}, ""),
])
def test_mail_log_key_subject(record: dict[str, Any], subject: str) -> None:
    query = streams.get("mail_log").log
    assert query is not None and query.subject(record) == subject


def test_login_records_are_told_apart_by_user() -> None:
    rec = {"time": 1, "ip": "1.2.3.4", "type": 1}
    assert record_identity("login_log", rec, {"userid": "a"}) != record_identity("login_log", rec, {"userid": "b"})
    assert record_identity("batchjob_log", {"time": 1}, {"userid": "a"})[1] is None


def test_register_refuses_a_second_entry_for_a_kind_or_poller() -> None:
    with pytest.raises(ValueError, match="already in the catalog"):
        streams.register(streams.Stream("mail_log", "k"))
    with pytest.raises(ValueError, match="poller 'newcount' already produces another kind"):
        streams.register(streams.Stream("other_new_mail", "k", poller="newcount"))
    with pytest.raises(KeyError, match="unknown stream kind 'nope'"):
        streams.get("nope")
    assert "other_new_mail" not in streams.catalog()


def test_a_new_log_type_is_its_catalog_entry_client_method_mapper_and_sim_maker() -> None:
    """Run tests/unit/_new_log_type.py (see its docstring) and check each place the new type must reach."""
    run = subprocess.run([sys.executable, str(REPO / "tests" / "unit" / "_new_log_type.py")], cwd=REPO,
                         capture_output=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr.decode()[-3000:]
    out = orjson.loads(run.stdout)
    kind = "signin_log"
    # config models: a corp may list it, its interval has the catalog's default and is validated
    assert out["config_streams"] == [kind] and out["default_streams_include"] is True
    assert (out["default_interval"], out["config_interval"]) == (120.0, 30.0)
    assert out["bad_interval"] == "ValidationError" and out["unknown_stream"] == "ValidationError"
    # topics, raw schema table, identity fields, CLI choices, normalize dispatch
    assert out["topics"] == [f"exmail.raw.{kind}"]
    assert out["raw_schema"] == f"exmail.raw.{kind}/1"
    assert out["identity"] == ["time", "operator", "ip", "result"]
    assert out["backfill_choices"] == [*LOGS, kind]
    assert out["mapper"] is True
    # the simulator: its store, generator (whole days and background traffic) and admin API know the kind
    assert out["sim_store_kinds"] == [*LOGS, kind]
    assert out["sim_generated"] == 7 and out["sim_traffic"] > 0
    # the sources build its poller; it reads the simulator's API, ids agree with the simulator's ground truth
    assert out["pollers"] == ["directory", kind] and out["poller_interval"] == 120.0
    assert out["topics_written"] == [f"p.exmail.raw.{kind}"]
    assert out["contexts"] == ['{"date":"2026-03-09","query_result":0}']
    assert len(out["truth_ids"]) == 7 and out["polled_ids"] == out["truth_ids"]
    # and normalize turns every record into an event with the same id
    assert sorted(e["id"] for e in out["events"]) == out["truth_ids"]
    assert {(e["schema"], e["dataset"]) for e in out["events"]} == {("exmail.event/1", f"exmail.{kind}")}
