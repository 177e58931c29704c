"""Raw record factories for the normalize tests: one valid envelope per raw kind, built the way the sources
build them (ids from pipeline.records / fingerprint, occurred_at from the record time)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.records import HR_SCHEMA, RAW_SCHEMAS, raw_id
from pipeline.transforms.normalize import operation_log

CORP = "wm0123456789abcdef"
T = 1764439476
OBSERVED = "2026-11-29T18:05:00.250Z"
REPO = Path(__file__).resolve().parents[4]


class Samples:
    """Valid raw envelopes; keyword arguments override record / data fields."""

    corp = CORP

    def _log(self, kind: str, record: dict[str, Any], context: dict[str, Any]) -> Envelope:
        return Envelope(schema=RAW_SCHEMAS[kind], id=raw_id(CORP, kind, record, 0, context), corp_id=CORP,
                        source=f"poller.{kind}", occurred_at=utc_iso(record["time"]), observed_at=OBSERVED,
                        data={"record": record, "context": context})

    def mail_log(self, **kw: Any) -> Envelope:
        record = {"mailtype": 1, "sender": "alice@example.com", "receiver": "bob@partner.com",
                  "subject": "Quarterly report", "time": T, "status": 3, **kw}
        return self._log("mail_log", record, {"date": "2025-11-29", "query_mailtype": 0})

    def login_log(self, userid: str = "alice@example.com", **kw: Any) -> Envelope:
        record = {"time": T, "ip": "203.0.113.7", "type": 1, **kw}
        return self._log("login_log", record, {"userid": userid, "date": "2025-11-29"})

    def operation_log(self, **kw: Any) -> Envelope:
        record = {"time": T, "operator": "admin@example.com", "type": 19, "operand": "carol@example.com", **kw}
        return self._log("operation_log", record, {"date": "2025-11-29", "query_type": 1})

    def batchjob_log(self, **kw: Any) -> Envelope:
        record = {"time": T, "operator": "admin@example.com", "type": 2, "status": 0, **kw}
        return self._log("batchjob_log", record, {"date": "2025-11-29"})

    def mail_status(self, **kw: Any) -> Envelope:
        record = {"sendsum": 120, "recvsum": 340, **kw}
        context = {"domain": "example.com", "date": "2025-11-29"}
        ident = fingerprint("exmail.raw", CORP, "mail_status", "example.com", "2025-11-29", record.get("sendsum"),
                            record.get("recvsum"))
        return Envelope(schema=RAW_SCHEMAS["mail_status"], id=ident, corp_id=CORP, source="poller.mail_status",
                        occurred_at="2025-11-29T16:00:00.000Z", observed_at=OBSERVED,
                        data={"record": record, "context": context})

    def _data(self, kind: str, data: dict[str, Any], *, source: str, occurred_at: str) -> Envelope:
        schema = HR_SCHEMA if kind == "hr" else RAW_SCHEMAS[kind]
        return Envelope(schema=schema, id=fingerprint("test", kind, data), corp_id=CORP, source=source,
                        occurred_at=occurred_at, observed_at=OBSERVED, data=data)

    def new_mail(self, msg_type: str = "Mail", **kw: Any) -> Envelope:
        base: dict[str, Any] = {
            "via": "callback", "msg_type": msg_type, "userid": "alice@example.com", "mail_id": None, "from": None,
            "subject": None, "time": T, "new_count": None, "unread_count": None, "previous_count": None,
            "correlation_key": None,
        }
        if msg_type == "Mail":
            base.update({"mail_id": "ZmFrZS1tYWlsLWlkLTAwMDE=", "from": '"bob@partner.com"<bob@partner.com>',
                         "subject": "Quarterly report", "new_count": 3,
                         "correlation_key": fingerprint("new_mail", CORP, "alice@example.com", 3)})
        elif msg_type == "UnRead":
            base.update({"unread_count": 2})
        else:
            base.update({"via": "poll", "new_count": 5, "previous_count": 3,
                         "correlation_key": fingerprint("new_mail", CORP, "alice@example.com", 5)})
        base.update(kw)
        return self._data("new_mail", base, source=f"newmail.{base['via']}", occurred_at=utc_iso(T))

    def directory(self, object_type: str = "user", change: str = "created", **kw: Any) -> Envelope:
        objects: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
            "user": ("carol@example.com",
                     {"userid": "carol@example.com", "name": "Carol", "department": [4913577855806636138],
                      "enable": 1},
                     {"userid": "carol@example.com", "name": "Carol Chen", "department": [4913577855806636138],
                      "enable": 0 if change == "disabled" else 1}),
            "department": ("4913577855806636200",
                           {"id": 4913577855806636200, "name": "Mail", "parentid": 4913577855806636138},
                           {"id": 4913577855806636200, "name": "Mail team", "parentid": 4913577855806636138}),
            "group": ("sales@example.com",
                      {"groupid": "sales@example.com", "groupname": "Sales", "allow_type": 0},
                      {"groupid": "sales@example.com", "groupname": "Sales team", "allow_type": 0}),
        }
        object_id, before, after = objects[object_type]
        changed = {"created": [], "deleted": [], "disabled": ["enable"], "enabled": ["enable"],
                   "updated": ["name" if object_type != "group" else "groupname"]}[change]
        data = {
            "object_type": object_type, "change": change, "object_id": object_id,
            "before": None if change == "created" else before, "after": None if change == "deleted" else after,
            "changed_fields": changed, "snapshot_at": "2025-11-29T18:00:00.000Z", **kw,
        }
        return self._data("directory", data, source="poller.directory", occurred_at="2025-11-29T18:00:00.000Z")

    def options(self, **kw: Any) -> Envelope:
        data = {
            "userid": "alice@example.com",
            "options": {"1": "0", "2": "1", "3": "0", "4": "0"},
            "previous": {"1": "0", "2": "0", "3": "0", "4": "0"},
            "changed": {"2": {"from": "0", "to": "1"}},
            "drift": [],
            **kw,
        }
        return self._data("options", data, source="poller.options", occurred_at="2025-11-29T18:00:00.000Z")

    def pipeline_error(self, **kw: Any) -> Envelope:
        data = {
            "stream": "mail_log", "stage": "poll", "error_type": "api_error", "errcode": 601002,
            "errmsg": "date range too long", "message": "log/mail query failed",
            "window": {"begin_date": "2025-11-28", "end_date": "2025-11-29"}, "gap_risk": True, **kw,
        }
        return self._data("pipeline_error", data, source="poller.mail_log", occurred_at="2025-11-29T18:00:00.000Z")

    def hr(self, event: str = "joiner", **kw: Any) -> Envelope:
        data = {
            "event": event, "request_id": "REQ-1", "employee_id": "E1001", "userid": "dave@example.com",
            "name": "Dave Li", "department_path": "R&D/Mail team", "position": "Engineer",
            "mobile": "13800000000", "aliases": ["d.li@example.com"], "effective_at": "2025-12-01T00:00:00Z", **kw,
        }
        return self._data("hr", data, source="hr.http", occurred_at="2025-11-29T18:00:00.000Z")

    def every_enum(self) -> list[tuple[str, Envelope]]:
        """One raw record per value of every enum in schemas/MAPPING.md (plus one unknown value per enum)."""
        out: list[tuple[str, Envelope]] = []
        for mailtype in (1, 2):
            for status in (0, 1, 2, 3, 4, 11, 12, 13, 14, 15):
                out.append((f"mail_log/{mailtype}/{status}", self.mail_log(mailtype=mailtype, status=status)))
        for login_type in (1, 2, 3, 4, 5, 6):
            out.append((f"login_log/{login_type}", self.login_log(type=login_type)))
        for op_type in (*operation_log.OPERATION_TYPES, 42):
            out.append((f"operation_log/{op_type}", self.operation_log(type=op_type)))
        out.append(("operation_log/20/restored", self.operation_log(type=20, remark=1)))
        for job_type in (*range(10), 10):
            out.append((f"batchjob_log/{job_type}", self.batchjob_log(type=job_type)))
        out.append(("mail_status", self.mail_status()))
        for msg_type in ("Mail", "UnRead", "NewCount"):
            out.append((f"new_mail/{msg_type}", self.new_mail(msg_type)))
        for object_type in ("user", "department", "group"):
            for change in ("created", "updated", "deleted", "disabled", "enabled"):
                out.append((f"directory/{object_type}/{change}", self.directory(object_type, change)))
        out.append(("options/changed", self.options()))
        out.append(("options/drift", self.options(changed={}, drift=[{"type": 2, "desired": "0", "actual": "1"}])))
        out.append(("pipeline_error", self.pipeline_error()))
        for event in ("joiner", "mover", "leaver"):
            out.append((f"hr/{event}", self.hr(event)))
        return out


@pytest.fixture(scope="session")
def samples() -> Samples:
    return Samples()


@pytest.fixture(scope="session")
def ecs_fields() -> dict[str, Any]:
    return orjson.loads((REPO / "schemas" / "reference" / "ecs-fields.json").read_bytes())


@pytest.fixture(scope="session")
def ocsf_classes() -> dict[str, Any]:
    return orjson.loads((REPO / "schemas" / "reference" / "ocsf-classes.json").read_bytes())


@pytest.fixture
def mutable() -> Any:
    """Deep copy helper so a test can break one field of a sample without touching others."""
    return copy.deepcopy


class SampleList(list[tuple[str, Envelope]]):
    def __repr__(self) -> str:  # keeps hypothesis failure reports short
        return f"<{len(self)} raw samples>"


@pytest.fixture(scope="session")
def all_samples() -> list[tuple[str, Envelope]]:
    return SampleList(Samples().every_enum())


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """`enum_sample` parametrizes a test over Samples.every_enum() (one raw record per enum value)."""
    if "enum_sample" in metafunc.fixturenames:
        everything = Samples().every_enum()
        metafunc.parametrize("enum_sample", [raw for _, raw in everything], ids=[label for label, _ in everything])
