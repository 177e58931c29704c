"""The Pipeline page: consumer lag per worker stage (what the worker's LagMonitor last measured, from its
exmail_consumer_lag_records gauge, and the stalls it holds; pipeline/worker/lag.py), records
processed per stage (this process's exmail_transform_records_total and exmail_sink_records_total), the
ingest's /healthz per stream, and the dead letters by stage with `pipeline replay`'s own read and replay."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from pipeline.kafka import KafkaSettings
from pipeline.metrics import REGISTRY
from pipeline.replay import DeadLetter, ReplayFilter, ReplayResult, read_dead_letters, replay


@dataclass(frozen=True, slots=True)
class StageLag:
    topic: str
    stages: tuple[str, ...]
    lag: int | None  # None: not measured yet (the first probe has not run, or the topic is not assigned here)


def lag_by_stage(group: str, agents: dict[str, list[str]]) -> list[StageLag]:
    """Per consumed topic: the faust agents reading it, and each batch unit (group "<group>.<unit>": audit,
    siem-<name>; "<group>-dispatch", "<group>-delivery") on its own row, with the lag the LagMonitor last
    measured (it probes on its own thread every lag_probe_seconds; the page never opens a Kafka client for
    this)."""
    faust_lag: dict[str, int] = {}
    units: dict[tuple[str, str], int] = {}
    for family in REGISTRY.collect():
        if family.name != "exmail_consumer_lag_records":
            continue
        for sample in family.samples:
            owner, topic = sample.labels.get("group", ""), sample.labels.get("topic", "")
            if owner == group:
                faust_lag[topic] = int(sample.value)
            elif owner.startswith((group + ".", group + "-")):  # batch units; dispatch and delivery groups
                units[(topic, owner[len(group) + 1:])] = int(sample.value)
    rows = [StageLag(t, tuple(stages), faust_lag.get(t)) for t, stages in agents.items()
            if not t.endswith("-changelog")]
    rows += [StageLag(t, (unit,), n) for (t, unit), n in units.items()]
    return sorted(rows, key=lambda r: (r.topic, r.stages))


def processed_by_stage() -> dict[str, dict[str, float]]:
    """{stage: {outcome: records}} from this process's counters (transforms and sinks)."""
    out: dict[str, dict[str, float]] = {}
    for family in REGISTRY.collect():
        if family.name not in ("exmail_transform_records", "exmail_sink_records"):
            continue
        for sample in family.samples:
            if not sample.name.endswith("_total"):
                continue
            stage = sample.labels.get("transform") or f"sink:{sample.labels.get('sink')}"
            outcome = sample.labels.get("outcome", "")
            out.setdefault(stage, {})[outcome] = out.setdefault(stage, {}).get(outcome, 0.0) + sample.value
    return dict(sorted(out.items()))


class Throughput:
    """Records per second per stage between two looks at the counters (this page's previous load, at least
    `min_seconds` apart, so two quick reloads do not show noise)."""

    def __init__(self, min_seconds: float = 5.0) -> None:
        self._min = min_seconds
        self._last: tuple[float, dict[str, float]] | None = None
        self._rates: dict[str, float] = {}

    def __repr__(self) -> str:
        return f"Throughput(stages={len(self._rates)})"

    def update(self, now: float, processed: dict[str, dict[str, float]]) -> dict[str, float]:
        totals = {stage: sum(by.values()) for stage, by in processed.items()}
        if self._last is None:
            self._last = (now, totals)
        elif now - self._last[0] >= self._min:
            then, before = self._last
            self._rates = {s: max(0.0, (n - before.get(s, 0.0)) / (now - then)) for s, n in totals.items()}
            self._last = (now, totals)
        return dict(self._rates)


def dead_letters(kafka: KafkaSettings, stage: str | None = None) -> list[DeadLetter]:
    """Blocking: every dead letter on exmail.dlq now (optionally of one stage)."""
    return read_dead_letters(kafka, ReplayFilter(stage=stage or None))


def count_by_stage(letters: list[DeadLetter]) -> dict[str, int]:
    return dict(sorted(Counter(str(dl.envelope.data.get("stage")) for dl in letters).items()))


def replay_stage(kafka: KafkaSettings, stage: str, *, dry_run: bool) -> ReplayResult:
    """Blocking: `pipeline replay --stage STAGE [--dry-run]`."""
    return replay(kafka, dead_letters(kafka, stage), dry_run=dry_run)


@dataclass(frozen=True, slots=True)
class IngestStream:
    """One poller of the ingest as the Pipeline page shows it: its /healthz entry (failures, the window it
    works on = its cursor) and its /metrics series (last successful poll, lag, errors by reason)."""

    name: str
    last_poll: float | None
    cursor: str
    lag_seconds: float | None
    failures: int
    errors: dict[str, int]


def ingest_streams(health: dict[str, Any], metrics_text: str, corp_names: dict[str, str]) -> list[IngestStream]:
    """Join the ingest's /healthz sources ("<corp name>/<stream>") with its metrics (labelled by corp_id)."""
    series: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(metrics_text):
        if family.name not in ("exmail_poll_last_success_timestamp_seconds", "exmail_poll_lag_seconds",
                               "exmail_source_errors"):
            continue
        for sample in family.samples:
            corp, stream = sample.labels.get("corp", ""), sample.labels.get("stream", "")
            entry = series.setdefault(f"{corp_names.get(corp, corp)}/{stream}", {"errors": {}})
            if family.name == "exmail_source_errors":
                if sample.name.endswith("_total"):
                    entry["errors"][sample.labels.get("reason", "?")] = int(sample.value)
            else:
                entry[family.name] = sample.value
    found = health.get("sources")
    sources: dict[str, Any] = found if isinstance(found, dict) else {}
    out = []
    for name in sorted({*sources, *(k for k in series if not k.startswith("hr/"))}):
        src, ser = sources.get(name) or {}, series.get(name, {"errors": {}})
        window = src.get("window") or []
        out.append(IngestStream(name, ser.get("exmail_poll_last_success_timestamp_seconds"),
                                " → ".join(str(w) for w in window), ser.get("exmail_poll_lag_seconds"),
                                int(src.get("failures") or 0), dict(ser["errors"])))
    return out


_STAGE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")


def valid_stage(value: Any) -> str:
    if not isinstance(value, str) or not _STAGE.match(value):
        raise ValueError("stage must be a DLQ stage name such as normalize or delivery.webhook")
    return value
