"""The end of a demo run: counts from the broker, the audit DB and the simulator's recorders, the checks that
decide the exit code, the printed table, summary.json and sample-messages.json."""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from pipeline import streams
from pipeline.demo._kafka import TopicProbe, decode_values
from pipeline.demo._view import STREAMS
from pipeline.kafka import TopicNames
from pipeline.secrets import scrub
from pipeline.transforms.rules import load_default_rules

OPTIONAL_STREAMS = tuple(s.kind for s in streams.raw_kinds() if s.poller is None)  # pipeline_error: only on errors
WECOM_RECEIVERS = ("cs-robot", "security-app")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Summary:
    run_dir: str
    topic_prefix: str
    app_id: str
    live_seconds: float
    interrupted: bool = False  # aborted (a signal before the live phase, or a second one): counts are partial
    stopped_by: str | None = None  # --forever: the signal that ended the live phase; the run then ended normally
    failure: str | None = None
    sim: dict[str, Any] = field(default_factory=dict)
    streams: dict[str, int] = field(default_factory=dict)
    required_streams: list[str] = field(default_factory=lambda: list(STREAMS))
    hr_records: int = 0
    events_records: int = 0
    events_distinct: int = 0
    actions_distinct: int = 0  # exmail.actions: action records and operator events (the audit store keeps both)
    audit_rows: int | None = None
    audit_event_rows: int | None = None  # the audit rows that came from exmail.events (what the SIEMs get)
    alerts_by_rule: dict[str, dict[str, int]] = field(default_factory=dict)
    notifications_by_receiver: dict[str, int] = field(default_factory=dict)
    deliveries: dict[str, dict[str, int]] = field(default_factory=dict)
    destinations: dict[str, dict[str, int]] = field(default_factory=dict)
    dlq_by_stage: dict[str, int] = field(default_factory=dict)
    dlq_records: int = 0
    feeds: dict[str, dict[str, Any]] = field(default_factory=dict)
    console: dict[str, Any] = field(default_factory=dict)  # {"url", "ok", "detail"}: a login tried mid-run
    drained: dict[str, Any] = field(default_factory=dict)  # {"ok", "detail"}: the worker caught up at the end
    drill: list[str] = field(default_factory=list)
    metrics: dict[str, Any] = field(default_factory=dict)
    required_metrics: dict[str, dict[str, Any]] = field(default_factory=dict)
    children: dict[str, dict[str, Any]] = field(default_factory=dict)
    checks: list[Check] = field(default_factory=list)
    paths: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.interrupted and self.failure is None and bool(self.checks) and all(c.ok for c in self.checks)

    def to_json(self) -> bytes:
        """Scrubbed: problems and notes quote URLs and error texts, which may carry links or keys."""
        return orjson.dumps(scrub({**asdict(self), "ok": self.ok}), option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS)


def audit_row_count(path: Path, schema: str | None = None) -> int | None:
    if not path.is_file():
        return None
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error:
        return None
    try:
        row = (con.execute("SELECT count(*) FROM audit_records WHERE schema = ?", (schema,)) if schema
               else con.execute("SELECT count(*) FROM audit_records")).fetchone()
        return int(row[0])
    except sqlite3.Error:
        return None
    finally:
        con.close()


def destination_counts(received: dict[str, Any]) -> dict[str, dict[str, int]]:
    """{"wecom robot ops": {"accepted": n, "rejected": n, ...}} from the simulator's /_sim/received."""
    out: dict[str, dict[str, int]] = {}
    for surface, entries in sorted(received.items()):
        if not isinstance(entries, list):
            continue
        for e in entries:
            if not isinstance(e, dict) or e.get("channel") == "gettoken":
                continue
            name = f"{surface} {e.get('channel')} {e.get('target')}"
            by = out.setdefault(name, {})
            by[str(e.get("outcome"))] = by.get(str(e.get("outcome")), 0) + 1
    return out


def sample_messages(received: dict[str, Any], per_destination: int = 3) -> dict[str, list[dict[str, Any]]]:
    """The first few messages each simulated destination accepted (bodies as received; no keys in them)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for surface, entries in sorted(received.items()):
        if not isinstance(entries, list):
            continue
        for e in entries:
            if not isinstance(e, dict) or e.get("outcome") != "accepted" or e.get("channel") == "gettoken":
                continue
            bucket = out.setdefault(f"{surface} {e.get('channel')} {e.get('target')}", [])
            if len(bucket) < per_destination:
                bucket.append({"at": e.get("at"), "recipients": e.get("recipients"), "body": e.get("body")})
    return out


def _default_rule_names() -> list[str]:
    """Every rule of the shipped pack, so the summary also shows the ones that did not fire."""
    return [r.name for r in load_default_rules({}).rules]


def collect_from_broker(summary: Summary, probe: TopicProbe, names: TopicNames) -> None:
    """Fill the per-topic counts and the alert / notification / delivery / dead-letter breakdowns."""
    raw = {kind: names.raw(kind) for kind in (*STREAMS, *OPTIONAL_STREAMS)}
    counts = probe.counts([*raw.values(), names.hr_lifecycle, names.events, names.dlq])
    summary.streams = {kind: counts[topic] for kind, topic in raw.items()}
    summary.hr_records = counts[names.hr_lifecycle]
    summary.events_records = counts[names.events]
    summary.dlq_records = counts[names.dlq]
    summary.events_distinct = len({e.get("id") for e in decode_values(probe.read_all(names.events))})
    summary.actions_distinct = len({e.get("id") for e in decode_values(probe.read_all(names.actions))})
    alerts: dict[str, dict[str, int]] = {}
    fingerprints: dict[str, set[str]] = {}
    for a in decode_values(probe.read_all(names.alerts)):
        data = a.get("data") or {}
        rule = str((data.get("labels") or {}).get("alertname") or data.get("rule") or "?")
        by = alerts.setdefault(rule, {"firing": 0, "resolved": 0, "distinct": 0})
        status = "firing" if data.get("status") == "firing" else "resolved"
        by[status] += 1
        fingerprints.setdefault(rule, set()).add(str(data.get("fingerprint")))
    for rule, fps in fingerprints.items():
        alerts[rule]["distinct"] = len(fps)
    for rule in _default_rule_names():
        alerts.setdefault(rule, {"firing": 0, "resolved": 0, "distinct": 0})
    summary.alerts_by_rule = dict(sorted(alerts.items()))
    summary.notifications_by_receiver = dict(sorted(Counter(
        str((n.get("data") or {}).get("receiver")) for n in decode_values(probe.read_all(names.notifications))
    ).items()))
    deliveries: dict[str, dict[str, int]] = {}
    for d in decode_values(probe.read_all(names.deliveries)):
        data = d.get("data") or {}
        by = deliveries.setdefault(f"{data.get('receiver')} ({data.get('kind')})", {})
        by[str(data.get("status"))] = by.get(str(data.get("status")), 0) + 1
    summary.deliveries = dict(sorted(deliveries.items()))
    summary.dlq_by_stage = dict(sorted(Counter(
        str((d.get("data") or {}).get("stage")) for d in decode_values(probe.read_all(names.dlq))).items()))


def run_checks(summary: Summary) -> list[Check]:
    missing = [s for s in summary.required_streams if summary.streams.get(s, 0) <= 0]
    checks = [Check("every stream produced records", not missing,
                    f"missing: {', '.join(missing)}" if missing else
                    ", ".join(f"{s} {summary.streams[s]}" for s in summary.required_streams))]
    wecom_accepted = sum(by.get("accepted", 0) for name, by in summary.destinations.items()
                         if name.startswith("wecom "))
    wecom_delivered = sum(by.get("delivered", 0) for name, by in summary.deliveries.items()
                          if name.split(" ", 1)[0] in WECOM_RECEIVERS)
    checks.append(Check("alerts delivered to the simulated WeCom", wecom_accepted > 0 and wecom_delivered > 0,
                        f"{wecom_delivered} deliveries recorded as delivered, {wecom_accepted} messages accepted "
                        "by the simulated WeCom"))
    rows = summary.audit_rows
    expected = summary.events_distinct + summary.actions_distinct
    checks.append(Check("audit rows == events on exmail.events + exmail.actions",
                        rows is not None and rows == expected and summary.events_distinct > 0,
                        f"audit rows {rows}, distinct event ids {summary.events_distinct} "
                        f"(records {summary.events_records}) + {summary.actions_distinct} on exmail.actions"))
    if summary.drained:
        checks.append(Check("the worker caught up after ingest stopped", bool(summary.drained.get("ok")),
                            str(summary.drained.get("detail"))))
    if summary.console:
        checks.append(Check("console usable during the run", bool(summary.console.get("ok")),
                            f"{summary.console.get('url')}: {summary.console.get('detail')}"))
    # the SIEM agents read exmail.events: each feed holds the audit rows that came from there, once each
    for name, feed in summary.feeds.items():
        events, lines = feed.get("events"), feed.get("lines")
        audited = summary.audit_event_rows
        checks.append(Check(f"{name} feed holds every audited event once", audited is not None and events == audited
                            and bool(audited),
                            f"{events} events in {lines} lines at {feed.get('path')}, audit rows of exmail.events "
                            f"{audited}" + (f" ({feed['error']})" if feed.get("error") else "")))
    return checks


def _table(rows: Sequence[tuple[str, ...]], indent: str = "  ", align: str = "") -> list[str]:
    """Columns padded to their widest cell; `align` has one letter per column (l/r), default l then r."""
    if not rows:
        return [indent + "(none)"]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    aligns = align or "l" + "r" * (len(widths) - 1)
    return [indent + "  ".join(c.ljust(w) if a == "l" else c.rjust(w)
                               for c, w, a in zip(r, widths, aligns, strict=True)).rstrip() for r in rows]


def render_summary(s: Summary) -> str:
    state = "interrupted" if s.interrupted else ("failed" if s.failure else "finished")
    if s.stopped_by and not s.interrupted:
        state += f" ({s.stopped_by} ended the live phase)"
    out = [f"Demo {state} after {s.live_seconds:.0f} s of traffic "
           f"(simulated {s.sim.get('start', '?')} → {s.sim.get('end', '?')}, x{s.sim.get('speed', '?')}); "
           f"topics {s.topic_prefix}*"]
    if s.failure:
        out.append(f"  problem: {s.failure}")
    out.append("records per stream (raw topics)")
    out += _table([(k, str(v)) for k, v in s.streams.items() if k in s.required_streams or v])
    out.append(f"events normalized (exmail.events)  {s.events_records} records, {s.events_distinct} distinct ids")
    out.append(f"operator events / actions          {s.actions_distinct} distinct ids (exmail.actions)")
    out.append(f"audit rows (SQLite)                {s.audit_rows if s.audit_rows is not None else 'n/a'}")
    out.append("alerts by rule (exmail.alerts)")
    header: list[tuple[str, ...]] = [("rule", "firing", "resolved", "distinct")]
    out += _table(header + [(r, str(v["firing"]), str(v["resolved"]), str(v["distinct"]))
                            for r, v in s.alerts_by_rule.items()])
    out.append("notifications by receiver (exmail.notifications)")
    out += _table([(r, str(n)) for r, n in s.notifications_by_receiver.items()])
    outcomes = sorted({o for by in s.deliveries.values() for o in by})
    out.append("deliveries by destination and outcome (exmail.deliveries)")
    out += _table([("receiver", *outcomes)] + [(r, *(str(by.get(o, 0)) for o in outcomes))
                                               for r, by in s.deliveries.items()] if s.deliveries else [])
    seen = sorted({o for by in s.destinations.values() for o in by})
    out.append("received by the simulated destinations (simulator recorders)")
    out += _table([("destination", *seen)] + [(d, *(str(by.get(o, 0)) for o in seen))
                                              for d, by in s.destinations.items()] if s.destinations else [])
    out.append(f"dead letters (exmail.dlq)  {s.dlq_records}" +
               (f"  by stage: {', '.join(f'{k} {v}' for k, v in s.dlq_by_stage.items())}" if s.dlq_by_stage else ""))
    out.append(f"SIEM feeds (what the SOC gets; the audit store holds {s.audit_event_rows} rows from exmail.events)")
    out += _table([(name, f"{f.get('events')} events", f"{f.get('lines')} lines", str(f.get("path")))
                   for name, f in s.feeds.items()], align="lrrl") if s.feeds else ["  (none)"]
    if s.drill:
        out.append("injected on purpose (fault drill and traffic)")
        out += [f"  - {d}" for d in s.drill]
    if s.required_metrics:
        out.append("metric families seen non-zero on /metrics")
        out += _table([(("✓ " if m["ok"] else "✗ ") + label, m["process"], m["family"], f"{m['max']:g}",
                        ", ".join(f"{k} {v:g}" for k, v in m.get("top_series", {}).items()))
                       for label, m in s.required_metrics.items()], align="lllrl")
    out.append("checks")
    out += [f"  {'✓' if c.ok else '✗'} {c.name}: {c.detail}" for c in s.checks] or ["  (not run)"]
    out += [f"  ! {p}" for p in s.problems]
    out.append(f"audit database:   {s.paths.get('audit_db', '?')}")
    out.append(f"sample messages:  {s.paths.get('sample_messages', '?')}")
    out.append(f"summary, logs:    {s.paths.get('summary', '?')}  ({s.run_dir}/*.log)")
    return "\n".join(out)
