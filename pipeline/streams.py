"""The stream catalog: one entry per stream kind, and every list of kinds in the project derived from it.

An entry says where a kind's records go (topic, envelope schema, Kafka key), how a record's id is computed
(identity fields), who polls it (config stream name, default interval, the Exmail apps whose secrets it needs),
how a log kind is queried (client method, parameters, context), which normalize mapper turns it into an event,
and how the simulator makes its traffic. The config models, topics, CLI choices, normalize dispatch, pollers,
demo and simulator all read this table; docs/adding-a-log-type.md shows the whole change for a new log type.

Dependency-free on purpose (stdlib only): records.py, kafka/topics.py, the sources, normalize and the simulator
import it, so it imports none of them. The mapper is named by "module:function" and resolved by normalize.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

Subject = Callable[[Mapping[str, Any]], str]

_DECIMAL = re.compile(r"[+-]?[0-9]+")


def subject_field(name: str) -> Subject:
    """The Kafka key's subject is the record's `name` field (e.g. the operator of an admin operation)."""

    def subject(record: Mapping[str, Any]) -> str:
        return str(record.get(name) or "")

    return subject


_OPERATOR = subject_field("operator")


def _mail_subject(record: Mapping[str, Any]) -> str:
    """A sent mail is about its sender, any other about its receiver (mailtype 1 = sent; ints or decimal strings,
    as pipeline.exmail.models.as_int reads them). Per record on the pollers' hot path: ints first."""
    mailtype = record.get("mailtype")
    if type(mailtype) is not int and isinstance(mailtype, str) and _DECIMAL.fullmatch(mailtype.strip()):
        mailtype = int(mailtype.strip())
    sent = type(mailtype) is int and mailtype == 1
    subject = record.get("sender" if sent else "receiver")
    return subject if type(subject) is str else str(subject or "")


@dataclass(frozen=True, slots=True)
class LogQuery:
    """How a log kind is read from the API: `ExmailClient.<method>(begin, end, **params)`, or for a per-user
    kind `<method>(userid, begin, end)` once per user of the directory (the `log_*_rows` methods: the validated
    JSON objects of the answer, which the pollers emit as they are). `context` is stored with every record
    (and names the query in the simulator's ground truth): {"userid"} for per-user kinds, "date", then these."""

    endpoint: str
    method: str
    params: Mapping[str, int] = field(default_factory=dict)
    context: Mapping[str, int] = field(default_factory=dict)
    per_user: bool = False
    subject: Subject = _OPERATOR

    def context_for(self, date: str, userid: str | None = None) -> dict[str, Any]:
        head: dict[str, Any] = {"userid": userid} if self.per_user else {}
        return {**head, "date": date, **self.context}


@dataclass(frozen=True, slots=True)
class SimHook:
    """How the simulator makes a kind's traffic: `TrafficGenerator.<make>(rng, t, view, push)` adds the records
    of one event at time t, `per_day` times a simulated day (per active user when `per_user`; the traffic config's
    `rate_field` or `rates[kind]` overrides it). `day_param` is the kind's count in `/_sim/generate`;
    `demo_seed` records are put in yesterday's log by the demo when the rate is too low for a one-minute run."""

    make: str
    per_day: float
    day_param: str
    per_user: bool = False
    rate_field: str | None = None
    demo_seed: int = 0


@dataclass(frozen=True, slots=True)
class Stream:
    """One stream kind. `topic` defaults to exmail.raw.<kind> and `schema` to <topic>/1."""

    kind: str
    key: str  # what the Kafka key is made of (documentation; topics.py prints it)
    topic: str = ""
    schema: str = ""
    identity: tuple[str, ...] | None = None  # the fields of a log record that make its id (None: whole record)
    poller: str | None = None  # the name in a corp's `streams:` list of the poller producing it; None = pushed
    interval: float | None = None  # default of poll.intervals.<poller>; None = the poller's own setting
    apps: tuple[str, ...] = ()  # Exmail apps whose secrets the poller needs (CorpSecrets fields)
    mapper: str | None = None  # "module:function" turning a record into an exmail.event document
    log: LogQuery | None = None  # set for the log kinds read by pipeline.sources.logs
    sim: SimHook | None = None  # set for the log kinds the simulator generates

    def __post_init__(self) -> None:
        if not self.topic:
            object.__setattr__(self, "topic", f"exmail.raw.{self.kind}")
        if not self.schema:
            object.__setattr__(self, "schema", f"{self.topic}/1")

    @property
    def raw(self) -> bool:
        """An Exmail raw kind (exmail.raw.<kind>), as opposed to another system's stream (hr.lifecycle)."""
        return self.topic == f"exmail.raw.{self.kind}"


_N = "pipeline.transforms.normalize"
_SYSTEM_LOG = ("system_log",)

_CATALOG: dict[str, Stream] = {}


def register(stream: Stream) -> Stream:
    """Add a kind to the catalog. The entries below are the product's; a test adds its own before it imports the
    modules that derive their tables (they read the catalog once, at import)."""
    if stream.kind in _CATALOG:
        raise ValueError(f"stream kind {stream.kind!r} is already in the catalog")
    pollers = {s.poller for s in _CATALOG.values() if s.poller}
    if stream.poller is not None and stream.poller in pollers:
        raise ValueError(f"poller {stream.poller!r} already produces another kind")
    _CATALOG[stream.kind] = stream
    return stream


for _stream in (
    Stream(
        "mail_log", "corp_id/userid", identity=("mailtype", "sender", "receiver", "subject", "time", "status"),
        poller="mail_log", interval=60.0, apps=_SYSTEM_LOG, mapper=f"{_N}.mail_log:to_event",
        log=LogQuery("log/mail", "log_mail_rows", params={"mailtype": 0}, context={"query_mailtype": 0},
                     subject=_mail_subject),
        sim=SimHook("traffic_mail", 6.0, "mail_records", per_user=True, rate_field="mails_per_user_per_day"),
    ),
    Stream(
        "login_log", "corp_id/userid", identity=("time", "ip", "type"),
        poller="login_log", interval=600.0, apps=("system_log", "contact"), mapper=f"{_N}.login_log:to_event",
        log=LogQuery("log/login", "log_login_rows", per_user=True),
        sim=SimHook("traffic_login", 2.0, "login_records", per_user=True, rate_field="logins_per_user_per_day"),
    ),
    Stream(
        "operation_log", "corp_id/operator", identity=("time", "operator", "type", "operand", "remark"),
        poller="operation_log", interval=300.0, apps=_SYSTEM_LOG, mapper=f"{_N}.operation_log:to_event",
        log=LogQuery("log/operation", "log_operation_rows", params={"category": 1}, context={"query_type": 1}),
        sim=SimHook("traffic_operation", 40.0, "operation_records", rate_field="admin_ops_per_day"),
    ),
    Stream(
        "batchjob_log", "corp_id/operator", identity=("time", "operator", "type", "status"),
        poller="batchjob_log", interval=300.0, apps=_SYSTEM_LOG, mapper=f"{_N}.batchjob_log:to_event",
        log=LogQuery("log/batchjob", "log_batchjob_rows"),
        sim=SimHook("batchjob", 4.0, "batchjob_records", rate_field="batchjobs_per_day", demo_seed=3),
    ),
    Stream("mail_status", "corp_id/domain", poller="mail_status", interval=3600.0, apps=_SYSTEM_LOG,
           mapper=f"{_N}.mail_status:to_event"),
    Stream("new_mail", "corp_id/userid", poller="newcount", apps=("mail_notice",),
           mapper=f"{_N}.new_mail:to_event"),  # pushed by the callback and polled by mail/newcount
    Stream("directory", "corp_id/object_id", poller="directory", interval=900.0, apps=("contact",),
           mapper=f"{_N}.directory:to_event"),
    Stream("options", "corp_id/userid", poller="options", interval=3600.0, apps=("function_setting", "contact"),
           mapper=f"{_N}.options:to_event"),
    Stream("pipeline_error", "corp_id/stream", mapper=f"{_N}.pipeline_error:to_event"),
    Stream("hr_lifecycle", "corp_id/employee", topic="hr.lifecycle", schema="hr.lifecycle/1",
           mapper=f"{_N}.hr_lifecycle:to_event"),
):
    register(_stream)


def catalog() -> Mapping[str, Stream]:
    """Every kind, in catalog order (read-only view)."""
    return MappingProxyType(_CATALOG)


def get(kind: str) -> Stream:
    try:
        return _CATALOG[kind]
    except KeyError:
        raise KeyError(f"unknown stream kind {kind!r}; kinds are {', '.join(_CATALOG)}") from None


def raw_kinds() -> Iterator[Stream]:
    """The exmail.raw.<kind> streams."""
    return (s for s in _CATALOG.values() if s.raw)


def log_kinds() -> Iterator[Stream]:
    """The log kinds (read by the log pollers, generated by the simulator)."""
    return (s for s in _CATALOG.values() if s.log is not None)


def polled() -> Iterator[Stream]:
    """The kinds a poller produces, in the order the pollers are built."""
    return (s for s in _CATALOG.values() if s.poller is not None)


def by_poller(name: str) -> Stream:
    for s in _CATALOG.values():
        if s.poller == name:
            return s
    raise KeyError(f"unknown stream {name!r}")
