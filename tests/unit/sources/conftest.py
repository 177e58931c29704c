"""Fakes for source unit tests: an in-memory broker (producer + topic reader), a fake Exmail client, a runtime."""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from pipeline.envelope import Envelope
from pipeline.exmail import NotFound
from pipeline.exmail._settings import RateLimit
from pipeline.exmail.models import (
    BatchJobLogRecord,
    Department,
    Group,
    LoginLogRecord,
    MailLogRecord,
    MailStatusSummary,
    NewCount,
    OperationLogRecord,
    User,
    UserOption,
)
from pipeline.kafka import DeliveryError, TopicNames
from pipeline.kafka.reader import OnRecord, ScanResult
from pipeline.kafka.state import StateTopic
from pipeline.sources._clock import FixedClock
from pipeline.sources._emit import Emitter
from pipeline.sources._runtime import CorpRuntime, Runtime
from pipeline.sources._window import CorpCalendar
from pipeline.sources.config import CorpConfig, PollSettings
from pipeline.sources.cursor import CursorStore

CORP = "wwfeedfacecafebeef"
BEIJING = timezone(timedelta(hours=8))
PARTITIONS = 3


def local_ts(day: str, hour: int = 12, minute: int = 0, second: int = 0) -> int:
    d = date.fromisoformat(day)
    return int(datetime(d.year, d.month, d.day, hour, minute, second, tzinfo=BEIJING).timestamp())


class FakeBroker:
    """Producer and TopicReader over in-memory partitioned logs. `fail` decides per (topic, value) whether a
    delivery fails; `sent` counts attempts."""

    def __init__(self) -> None:
        self.logs: dict[str, list[list[tuple[bytes | None, bytes | None]]]] = {}
        self.fail: Callable[[str, bytes | None], bool] = lambda _t, _v: False
        self.attempts = 0

    def _parts(self, topic: str) -> list[list[tuple[bytes | None, bytes | None]]]:
        return self.logs.setdefault(topic, [[] for _ in range(PARTITIONS)])

    async def send(self, topic: str, value: bytes | Envelope | None, key: bytes | str | None = None,
                   headers: Any = None) -> Any:
        self.attempts += 1
        payload = value.encode() if isinstance(value, Envelope) else value
        k = key.encode() if isinstance(key, str) else key
        if self.fail(topic, payload):
            raise DeliveryError(topic, "injected failure")
        parts = self._parts(topic)
        p = zlib.crc32(k or b"") % PARTITIONS
        parts[p].append((k, payload))
        return (topic, p, len(parts[p]) - 1)

    async def send_many(self, records: Any) -> list[Any]:
        return [await self.send(t, v, k) for t, k, v in records]

    async def send_batch(self, records: Any) -> list[Any]:
        out: list[Any] = []
        for t, k, v in records:
            try:
                out.append(await self.send(t, v, k))
            except DeliveryError as exc:
                out.append(exc)
        return out

    async def send_values(self, topic: str, keys: Any, values: Any) -> list[Any]:
        return await self.send_batch((topic, k, v) for k, v in zip(keys, values, strict=True))

    def close(self, timeout: float = 30.0) -> int:
        return 0

    async def end_offsets(self, topic: str) -> dict[int, int]:
        return {p: len(recs) for p, recs in enumerate(self._parts(topic))}

    async def scan(self, topic: str, on_record: OnRecord, start: Mapping[int, int] | None = None) -> ScanResult:
        parts = self._parts(topic)
        begin = {p: (start or {}).get(p, 0) for p in range(len(parts))}
        end = {p: len(recs) for p, recs in enumerate(parts)}
        n = 0
        for p, recs in enumerate(parts):
            for k, v in recs[begin[p]:end[p]]:
                on_record(k, v)
                n += 1
        return ScanResult(n, begin, end)

    def values(self, topic: str) -> list[dict[str, Any]]:
        return [orjson.loads(v) for part in self._parts(topic) for _, v in part if v is not None]

    def ids(self, topic: str) -> list[str]:
        return [v["id"] for v in self.values(topic)]


@dataclass
class FakeSettings:
    per_user_concurrency: int = 4
    app_rate: float = 10.0

    def rate_limit_for(self, app: Any) -> RateLimit:
        return RateLimit(rate=self.app_rate, burst=int(self.app_rate * 2))


@dataclass
class FakeExmail:
    """Log stores keyed by kind: list of (visible_from, record[, userid]); directory; options; counts."""

    clock: FixedClock
    logs: dict[str, list[tuple[float, dict[str, Any], str | None]]] = field(default_factory=dict)
    departments: list[dict[str, Any]] = field(default_factory=list)
    users: list[dict[str, Any]] = field(default_factory=list)
    groups: dict[str, dict[str, Any]] = field(default_factory=dict)
    options: dict[str, dict[int, str]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    calls: list[tuple[str, Any]] = field(default_factory=list)
    errors: dict[str, list[BaseException]] = field(default_factory=dict)
    settings: FakeSettings = field(default_factory=FakeSettings)

    def add(self, kind: str, record: dict[str, Any], userid: str | None = None, visible_at: float = 0) -> None:
        self.logs.setdefault(kind, []).append((visible_at, record, userid))

    def _maybe_fail(self, endpoint: str) -> None:
        pending = self.errors.get(endpoint)
        if pending:
            raise pending.pop(0)

    def _select(self, kind: str, a: date, b: date, userid: str | None = None) -> list[dict[str, Any]]:
        now = self.clock.now()
        out = []
        for visible, rec, uid in self.logs.get(kind, []):
            day = datetime.fromtimestamp(rec["time"], BEIJING).date()
            if a <= day <= b and visible <= now and (userid is None or uid == userid):
                out.append(rec)
        return out

    async def log_mail(self, a: date, b: date, *, mailtype: Any = 0) -> list[MailLogRecord]:
        self.calls.append(("log/mail", (a, b)))
        self._maybe_fail("log/mail")
        return [MailLogRecord.model_validate(r) for r in self._select("mail_log", a, b)]

    async def log_operation(self, a: date, b: date, *, category: Any = 1) -> list[OperationLogRecord]:
        self.calls.append(("log/operation", (a, b)))
        self._maybe_fail("log/operation")
        return [OperationLogRecord.model_validate(r) for r in self._select("operation_log", a, b)]

    async def log_batchjob(self, a: date, b: date) -> list[BatchJobLogRecord]:
        self.calls.append(("log/batchjob", (a, b)))
        self._maybe_fail("log/batchjob")
        return [BatchJobLogRecord.model_validate(r) for r in self._select("batchjob_log", a, b)]

    async def log_login(self, userid: str, a: date, b: date) -> list[LoginLogRecord]:
        self.calls.append(("log/login", (userid, a, b)))
        self._maybe_fail(f"log/login:{userid}")
        if userid not in {u["userid"] for u in self.users}:
            raise NotFound(60111, "userid not found", "log/login")
        return [LoginLogRecord.model_validate(r) for r in self._select("login_log", a, b, userid)]

    # the pollers read the validated JSON objects (ExmailClient.log_*_rows): the models' raw records
    async def log_mail_rows(self, a: date, b: date, *, mailtype: Any = 0) -> list[dict[str, Any]]:
        return [r.raw for r in await self.log_mail(a, b, mailtype=mailtype)]

    async def log_operation_rows(self, a: date, b: date, *, category: Any = 1) -> list[dict[str, Any]]:
        return [r.raw for r in await self.log_operation(a, b, category=category)]

    async def log_batchjob_rows(self, a: date, b: date) -> list[dict[str, Any]]:
        return [r.raw for r in await self.log_batchjob(a, b)]

    async def log_login_rows(self, userid: str, a: date, b: date) -> list[dict[str, Any]]:
        return [r.raw for r in await self.log_login(userid, a, b)]

    async def log_mailstatus(self, domain: str, a: date, b: date) -> MailStatusSummary:
        self.calls.append(("log/mailstatus", (domain, a, b)))
        recs = self._select("mail_log", a, b)
        send = sum(1 for r in recs if r["mailtype"] == 1 and r["sender"].endswith("@" + domain))
        recv = sum(1 for r in recs if r["mailtype"] == 2 and r["receiver"].endswith("@" + domain))
        return MailStatusSummary(sendsum=send, recvsum=recv)

    async def department_list(self, department_id: int | None = None) -> list[Department]:
        self._maybe_fail("department/list")
        return [Department.model_validate(d) for d in self.departments]

    async def user_list(self, department_id: int, *, fetch_child: bool = False) -> list[User]:
        self._maybe_fail("user/list")
        return [User.model_validate(u) for u in self.users]

    async def group_get(self, groupid: str) -> Group:
        if groupid not in self.groups:
            raise NotFound(600008, "group not found", "group/get")
        return Group.model_validate(self.groups[groupid])

    async def useroption_get(self, userid: str) -> list[UserOption]:
        self.calls.append(("useroption/get", userid))
        self._maybe_fail(f"useroption/get:{userid}")
        opts = self.options.setdefault(userid, {1: "0", 2: "1", 3: "1", 4: "0"})
        return [UserOption.model_validate({"type": t, "value": v}) for t, v in sorted(opts.items())]

    async def mail_newcount(self, userid: str) -> NewCount:
        self.calls.append(("mail/newcount", userid))
        self._maybe_fail(f"mail/newcount:{userid}")
        return NewCount(count=self.counts.get(userid, 0))

    async def aclose(self) -> None:
        return None


@dataclass
class Env:
    broker: FakeBroker
    clock: FixedClock
    api: FakeExmail
    rt: Runtime
    corp: CorpRuntime
    names: TopicNames

    def fresh(self) -> Env:
        """A new process over the same broker and API (what a restart sees)."""
        return make_env(self.broker, self.clock, self.api, self.rt.poll, self.corp.config)

    async def load(self) -> None:
        await self.rt.cursors.load()


def make_env(broker: FakeBroker, clock: FixedClock, api: FakeExmail, poll: PollSettings,
             corp_config: CorpConfig) -> Env:
    names = TopicNames("t.")
    emitter = Emitter(broker, names)  # type: ignore[arg-type]
    cursors = CursorStore(StateTopic(broker, broker, names.state("cursors")))  # type: ignore[arg-type]
    state = StateTopic(broker, broker, names.state("directory"))  # type: ignore[arg-type]
    rt = Runtime(emitter=emitter, cursors=cursors, state=state, clock=clock, poll=poll, reader=broker)
    corp = CorpRuntime(config=corp_config, client=api, calendar=CorpCalendar(480))  # type: ignore[arg-type]
    return Env(broker, clock, api, rt, corp, names)


@pytest.fixture
def env() -> Env:
    clock = FixedClock(local_ts("2026-03-10", 12))
    poll = PollSettings(lag_seconds=6 * 3600, backfill_days=2, span_days=30,
                        error_backoff_initial_seconds=0.01, error_backoff_max_seconds=0.02)
    corp = CorpConfig(name="acme", corp_id=CORP, desired_options={1: "1", 3: "0"})
    return make_env(FakeBroker(), clock, FakeExmail(clock), poll, corp)


def utc(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@pytest.fixture
def local() -> Callable[..., int]:
    """local(day, hour=12, minute=0, second=0) -> Unix time in the corp's timezone (UTC+8)."""
    return local_ts


@pytest.fixture(scope="session")
def validate() -> Callable[[dict[str, Any]], None]:
    """validate(envelope_dict): checks it against its JSON Schema in schemas/ (by the envelope's schema)."""
    from pathlib import Path

    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    root = Path(__file__).resolve().parents[3] / "schemas"
    resources = []
    by_title: dict[str, dict[str, Any]] = {}
    for path in root.rglob("*.json"):
        doc = orjson.loads(path.read_bytes())
        if isinstance(doc, dict) and "$id" in doc:
            resources.append((doc["$id"], Resource.from_contents(doc)))
            if "title" in doc:
                by_title[doc["title"]] = doc
    registry: Registry[Any] = Registry().with_resources(resources)

    def check(envelope: dict[str, Any]) -> None:
        schema = by_title[envelope["schema"]]
        Draft202012Validator(schema, registry=registry).validate(envelope)

    return check


def company(api: Any) -> None:
    """A small company (three departments, two users, one group) in the fake Exmail's address book."""
    api.departments = [
        {"id": 1, "name": "Acme", "parentid": 0, "order": 0},
        {"id": 4913577855806636138, "name": "R&D", "parentid": 1, "order": 10},
        {"id": 4913577855806636200, "name": "Mail team", "parentid": 4913577855806636138, "order": 40},
    ]
    api.users = [
        {"userid": "alice@acme.com", "name": "Alice", "department": [4913577855806636200], "enable": "1",
         "position": "Engineer"},
        {"userid": "bob@acme.com", "name": "Bob", "department": [1, 4913577855806636138], "enable": "1"},
    ]
    api.groups = {"all@acme.com": {"groupid": "all@acme.com", "groupname": "All", "userlist": ["alice@acme.com"],
                                   "allow_type": 0}}
