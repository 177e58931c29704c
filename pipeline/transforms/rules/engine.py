"""The rule engine: normalized events in, alerts out, with per-key state for windows and first-seen sets.

Stateful rules run on event time (the envelope's `occurred_at`), so a replay or a late poll counts the same
as a live stream; `now` (processing time) only decides `ends_at` of the emitted alerts.

State keys are `r/<rule>/<corp>/<label values...>` (url-quoted), one per condition instance, so a faust table
keyed like exmail.events (corp_id/userid) keeps each user's windows on the partition that sees that user.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from pipeline.envelope import Envelope, parse_iso
from pipeline.metrics import ALERTS
from pipeline.transforms.rules._fields import Path, compile_path, field_values
from pipeline.transforms.rules._matchers import Predicate, canon, compile_matcher
from pipeline.transforms.rules._templates import CompiledTemplates
from pipeline.transforms.rules.alert import MAX_EVENT_IDS, Alert
from pipeline.transforms.rules.config import RuleConfig, RulePackConfig
from pipeline.transforms.rules.durations import format_duration
from pipeline.transforms.rules.state import MemoryRuleState, RuleState, RuleStateUnavailable

_DATASET = ("event", "dataset")
_TOUCH_SECONDS = 3600.0  # first-seen: re-write a known value's last-seen time at most hourly
_DEFAULT_SUMMARY = "{{ rule }}{% if labels.user %} for {{ labels.user }}{% endif %}"


class RuleInputError(ValueError):
    """The event cannot be evaluated (not an event envelope, bad time); dead-letter it."""


class RuleEvaluationError(RuntimeError):
    """A rule failed on an event; the message names the rule."""


@dataclass(slots=True)
class _Rule:
    cfg: RuleConfig
    name: str
    kind: str
    severity: str
    predicates: tuple[Predicate, ...]
    datasets: frozenset[str] | None
    labels_from: tuple[tuple[str, Path], ...]
    templates: CompiledTemplates
    resolve_timeout: float
    sso_path: Path | None
    value_path: Path | None
    threshold: int
    bucket_width: float
    buckets: int


class RuleEngine:
    """Evaluate a rule pack. `corp_domains` maps corp_id to the corp's own mail domains ($corp_domains)."""

    def __init__(self, pack: RulePackConfig, state: RuleState | None = None, *,
                 corp_domains: Mapping[str, Iterable[str]] | None = None) -> None:
        self.pack = pack
        self.state: RuleState = state if state is not None else MemoryRuleState()
        self._corp_domains: dict[str, frozenset[str]] = {}
        for corp, domains in (corp_domains or {}).items():
            self.set_corp_domains(corp, domains)
        self._rules = [self._compile(r) for r in pack.rules if r.enabled]
        self._by_dataset: dict[str, list[_Rule]] = {}
        self._any_dataset: list[_Rule] = []
        for rule in self._rules:
            if rule.datasets is None:
                self._any_dataset.append(rule)
        for rule in self._rules:
            for ds in rule.datasets or ():
                self._by_dataset.setdefault(ds, [])
        for ds, bucket in self._by_dataset.items():
            bucket.extend(r for r in self._rules if r.datasets is None or ds in r.datasets)
        self._alert_counters: dict[str, Any] = {}

    @property
    def rule_names(self) -> list[str]:
        return [r.name for r in self._rules]

    def set_corp_domains(self, corp_id: str, domains: Iterable[str]) -> None:
        self._corp_domains[corp_id] = frozenset(d.strip().lower().rstrip(".") for d in domains)

    def evaluate(self, event: Envelope, now: float | None = None) -> list[Alert]:
        """Alerts raised by this event (firing, or resolved for stateful rules whose condition cleared)."""
        doc = event.data
        if not isinstance(doc, dict):
            raise RuleInputError(f"event {event.id}: data must be an object")
        try:
            ts = parse_iso(event.occurred_at).timestamp()
        except (ValueError, TypeError, AttributeError) as exc:
            raise RuleInputError(f"event {event.id}: occurred_at {event.occurred_at!r} is not a time") from exc
        if now is None:
            now = time.time()
        datasets = field_values(doc, _DATASET)
        if len(datasets) == 1:
            candidates = self._by_dataset.get(canon(datasets[0]), self._any_dataset)
        elif datasets:
            seen: dict[int, _Rule] = {}
            for ds in datasets:
                for r in self._by_dataset.get(canon(ds), self._any_dataset):
                    seen.setdefault(id(r), r)
            candidates = [r for r in self._rules if id(r) in seen]
        else:
            candidates = self._any_dataset
        if not candidates:
            return []
        corp = event.corp_id
        domains = self._corp_domains.get(corp, frozenset())
        out: list[Alert] = []
        for rule in candidates:
            if not all(p(doc, domains) for p in rule.predicates):
                continue
            try:
                if rule.kind == "match":
                    out.append(self._match_alert(rule, event, ts, now))
                elif rule.kind == "first_seen":
                    out.extend(self._first_seen(rule, event, ts, now))
                else:
                    alert = self._count(rule, event, ts, now)
                    if alert is not None:
                        out.append(alert)
            except RuleStateUnavailable:
                raise  # the store's fault, not the event's: retried by the caller, never dead-lettered
            except Exception as exc:
                raise RuleEvaluationError(f"rule {rule.name} failed on event {event.id}: {exc}") from exc
        for alert in out:
            if alert.ends_at > now:
                self._count_alert(alert)
        return out

    # --- rule kinds

    def _match_alert(self, rule: _Rule, event: Envelope, ts: float, now: float) -> Alert:
        labels = self._labels(rule, event.data, event.corp_id)
        return self._alert(rule, event, labels, ts, max(ts, now) + rule.resolve_timeout, {}, [event.id])

    def _count(self, rule: _Rule, event: Envelope, ts: float, now: float) -> Alert | None:
        key_values = self._key_values(rule, event.data)
        if key_values is None:
            return None
        key = _state_key(rule.name, event.corp_id, key_values)
        st = self.state.get(key) or {}
        if event.id in st.get("i", ()):
            # counted already: a redelivery (transforms are at-least-once across a rebalance or a restart)
            # must not count twice, or a rule fires early. The key's last MAX_EVENT_IDS ids are kept, which
            # covers the redelivered tail near a threshold; its alert, if any, went out the first time.
            return None
        buckets: list[list[int]] = [list(b) for b in st.get("b", ())]
        bucket = int(ts // rule.bucket_width)
        newest = max(bucket, buckets[-1][0] if buckets else bucket)
        oldest_kept = newest - rule.buckets + 1
        if bucket < oldest_kept:
            return None  # older than the window already seen: it cannot change the condition
        _add_to_bucket(buckets, bucket)
        buckets = [b for b in buckets if b[0] >= oldest_kept]
        count = sum(c for _, c in buckets)
        ids = [*st.get("i", ()), event.id][-MAX_EVENT_IDS:]
        since, last = st.get("f"), st.get("t")
        rt = rule.resolve_timeout
        new_st: dict[str, Any] = {"b": buckets, "i": ids}
        alert: Alert | None = None
        extra = {"count": count, "threshold": rule.threshold, "window": format_duration(rule.cfg.window or 0)}
        if rule.kind == "rate":
            extra["rate"] = round(count * rule.cfg.per / (rule.cfg.window or 1), 3)
        if count >= rule.threshold:
            if since is None or last is None or ts >= last + rt:
                since, last = ts, ts
                alert = self._stateful_alert(rule, event, key_values, since, max(ts, now) + rt, extra, ids)
            elif ts - last >= rt / 2:
                last = ts
                alert = self._stateful_alert(rule, event, key_values, since, max(ts, now) + rt, extra, ids)
            new_st["f"], new_st["t"] = since, last
        elif since is not None and last is not None and ts < last + rt:
            alert = self._stateful_alert(rule, event, key_values, since, max(since, min(ts, now)), extra, ids)
        self.state.put(key, new_st)
        return alert

    def _first_seen(self, rule: _Rule, event: Envelope, ts: float, now: float) -> list[Alert]:
        key_values = self._key_values(rule, event.data)
        if key_values is None or rule.value_path is None:
            return []
        values = list(dict.fromkeys(canon(v) for v in field_values(event.data, rule.value_path)))
        if not values:
            return []
        cfg = rule.cfg
        key = _state_key(rule.name, event.corp_id, key_values)
        st = self.state.get(key) or {}
        seen: dict[str, float] = dict(st.get("v", {}))
        new_st: dict[str, Any] = {"v": seen}
        if cfg.warmup_scope == "key":
            start = st.get("s", ts)
            new_st["s"] = min(start, ts)
        else:
            start_key = _state_key(rule.name, event.corp_id, ["~start"])
            stored = self.state.get(start_key)
            start = stored["t"] if stored else ts
            if stored is None or ts < start:
                self.state.put(start_key, {"t": min(start, ts)})
        learning = ts < start + cfg.warmup
        horizon = ts - cfg.value_ttl
        had_history = any(t >= horizon for t in seen.values())
        changed = "s" in new_st and new_st["s"] != st.get("s")
        alerts = []
        for value in values:
            last = seen.get(value)
            if last is None or last < horizon:
                if not learning and (had_history or cfg.alert_on_empty_history):
                    labels = self._key_labels(rule, key_values, event.corp_id)
                    labels[cfg.value_label] = value
                    alerts.append(self._alert(rule, event, labels, ts, max(ts, now) + rule.resolve_timeout,
                                              {"value": value}, [event.id]))
                seen[value] = ts
                changed = True
            elif ts - last >= _TOUCH_SECONDS:
                seen[value] = ts
                changed = True
        if changed:
            for value in [v for v, t in seen.items() if t < horizon]:
                del seen[value]
            if len(seen) > cfg.max_values:
                for value in sorted(seen, key=seen.__getitem__)[:len(seen) - cfg.max_values]:
                    del seen[value]
            self.state.put(key, new_st)
        return alerts

    # --- building alerts

    def _key_values(self, rule: _Rule, doc: dict[str, Any]) -> list[str] | None:
        out = []
        for _, path in rule.labels_from:
            values = field_values(doc, path)
            if not values:
                return None
            out.append(_label_value(values))
        return out

    def _key_labels(self, rule: _Rule, key_values: list[str], corp: str) -> dict[str, str]:
        labels = {"alertname": rule.name, "severity": rule.severity, "corp": corp}
        for (label, _), value in zip(rule.labels_from, key_values, strict=True):
            labels[label] = value
        labels.update(rule.cfg.labels)
        return labels

    def _labels(self, rule: _Rule, doc: dict[str, Any], corp: str) -> dict[str, str]:
        labels = {"alertname": rule.name, "severity": rule.severity, "corp": corp}
        for label, path in rule.labels_from:
            values = field_values(doc, path)
            if values:
                labels[label] = _label_value(values)
        labels.update(rule.cfg.labels)
        return labels

    def _stateful_alert(self, rule: _Rule, event: Envelope, key_values: list[str], starts_at: float,
                        ends_at: float, extra: dict[str, Any], ids: list[str]) -> Alert:
        labels = self._key_labels(rule, key_values, event.corp_id)
        return self._alert(rule, event, labels, starts_at, ends_at, extra, list(ids))

    def _alert(self, rule: _Rule, event: Envelope, labels: dict[str, str], starts_at: float, ends_at: float,
               extra: dict[str, Any], ids: list[str]) -> Alert:
        context = {"labels": labels, "event": event.data, "rule": rule.name, "corp": event.corp_id,
                   "params": self.pack.params, **extra}
        sso_user = None
        if rule.sso_path is not None:
            values = field_values(event.data, rule.sso_path)
            sso_user = str(values[0]) if values else None
        return Alert(labels=labels, annotations=rule.templates.render(context), starts_at=starts_at,
                     ends_at=ends_at, rule=rule.name, event_ids=ids, action=rule.cfg.action, sso_user=sso_user)

    def _count_alert(self, alert: Alert) -> None:
        child = self._alert_counters.get(alert.rule)
        if child is None:
            child = self._alert_counters[alert.rule] = ALERTS.labels(alert.rule, alert.labels.get("severity", ""))
        child.inc()

    # --- compiling

    def _compile(self, cfg: RuleConfig) -> _Rule:
        predicates = []
        datasets: frozenset[str] | None = None
        for m in cfg.match:
            _, pred = compile_matcher(m)
            predicates.append(pred)
            if m.field == "event.dataset" and not m.ignore_case and m.operator in ("eq", "in_"):
                raw = m.eq if m.operator == "eq" else m.in_
                names = frozenset(canon(v) for v in (raw if isinstance(raw, list) else [raw]))
                datasets = names if datasets is None else datasets & names
        annotations = dict(cfg.annotations)
        annotations.setdefault("summary", _DEFAULT_SUMMARY)
        threshold, width = 0, 0.0
        if cfg.window is not None:
            width = cfg.window / cfg.buckets
            if cfg.type == "count":
                threshold = cfg.threshold or 1
            else:
                threshold = max(1, math.ceil((cfg.rate or 0) * cfg.window / cfg.per - 1e-9))
        return _Rule(
            cfg=cfg, name=cfg.name, kind=cfg.type, severity=cfg.severity or self.pack.defaults.severity,
            predicates=tuple(predicates), datasets=datasets,
            labels_from=tuple((label, compile_path(path)) for label, path in cfg.labels_from.items()),
            templates=CompiledTemplates(annotations),
            resolve_timeout=cfg.resolve_timeout if cfg.resolve_timeout is not None
            else self.pack.defaults.resolve_timeout,
            sso_path=compile_path(cfg.sso_user_field) if cfg.sso_user_field else None,
            value_path=compile_path(cfg.value) if cfg.value else None,
            threshold=threshold, bucket_width=width, buckets=cfg.buckets,
        )


def _label_value(values: list[Any]) -> str:
    if len(values) == 1:
        return canon(values[0])
    return ",".join(dict.fromkeys(canon(v) for v in values))


def _state_key(rule: str, corp: str, values: list[str]) -> str:
    return "r/" + rule + "/" + quote(corp, safe="") + "/" + "/".join(quote(v, safe="@.:-_~") for v in values)


def _add_to_bucket(buckets: list[list[int]], bucket: int) -> None:
    for i in range(len(buckets) - 1, -1, -1):
        b = buckets[i]
        if b[0] == bucket:
            b[1] += 1
            return
        if b[0] < bucket:
            buckets.insert(i + 1, [bucket, 1])
            return
    buckets.insert(0, [bucket, 1])
