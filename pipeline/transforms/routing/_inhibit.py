"""Inhibition (Alertmanager `<inhibit_rule>`, inhibit/inhibit.go): a firing source alert mutes target alerts
that carry the same values for the `equal` labels (missing == empty); an alert matching both sides cannot be
inhibited by alerts that also match both sides, itself included.

Every ingested alert that matches some rule's source side is remembered (state key `is/<fingerprint>`) until
it resolves, so a restart keeps inhibiting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from pipeline.transforms.routing.config import InhibitRuleConfig
from pipeline.transforms.routing.matchers import Matcher, matches_all
from pipeline.transforms.rules.alert import Alert
from pipeline.transforms.rules.state import RuleState

PREFIX = "is/"


@dataclass(slots=True)
class _Source:
    labels: dict[str, str]
    ends_at: float


@dataclass(slots=True)
class _InhibitRule:
    name: str
    sources: tuple[Matcher, ...]
    targets: tuple[Matcher, ...]
    equal: tuple[str, ...]
    by_equal: dict[tuple[str, ...], set[str]] = field(default_factory=dict)

    def key(self, labels: Mapping[str, str]) -> tuple[str, ...]:
        return tuple(labels.get(n, "") for n in self.equal)


class Inhibitor:
    def __init__(self, rules: list[InhibitRuleConfig], state: RuleState) -> None:
        self._state = state
        self._rules = [
            _InhibitRule(name=r.name or f"inhibit_rule_{i}", sources=tuple(r.sources()), targets=tuple(r.targets()),
                         equal=tuple(r.equal))
            for i, r in enumerate(rules)
        ]
        self._sources: dict[str, _Source] = {}
        self.version = 0  # bumped whenever a source appears or its end moves
        self._next: tuple[int, float] = (-1, 0.0)
        if self._rules:
            for key, value in state.items(PREFIX):
                self._index(key[len(PREFIX):], _Source(value["l"], value["e"]))

    def observe(self, alert: Alert, now: float) -> None:
        if not self._rules:
            return
        fp = alert.fingerprint
        old = self._sources.get(fp)
        if old is None and not any(matches_all(r.sources, alert.labels) for r in self._rules):
            return
        ends_at = alert.ends_at
        if old is not None and alert.ends_at > now and old.ends_at > ends_at:
            ends_at = old.ends_at
        src = _Source(alert.labels, ends_at)
        if old is None or old.ends_at != ends_at or old.labels != src.labels:
            self.version += 1
        self._index(fp, src)
        self._state.put(PREFIX + fp, {"l": src.labels, "e": src.ends_at})

    def targets(self, labels: Mapping[str, str]) -> bool:
        """Whether some rule's target side matches: only then can a source change mute an alert with these
        labels (the dispatcher re-evaluates such groups alone when `version` moves)."""
        return bool(self._rules) and any(matches_all(rule.targets, labels) for rule in self._rules)

    def mutes(self, labels: Mapping[str, str], now: float) -> str | None:
        """The fingerprint of a firing source alert that inhibits an alert with these labels, else None."""
        for rule in self._rules:
            if not matches_all(rule.targets, labels):
                continue
            two_sided = matches_all(rule.sources, labels)
            for fp in rule.by_equal.get(rule.key(labels), ()):
                src = self._sources[fp]
                if src.ends_at <= now:
                    continue
                if two_sided and matches_all(rule.targets, src.labels):
                    continue
                return fp
        return None

    def next_change(self, now: float) -> float:
        """The next time a remembered source resolves (inf when none will); with `version`, what the dispatcher
        needs to know that no mute decision changes before then."""
        version, until = self._next
        if version == self.version and now < until:
            return until
        until = min((src.ends_at for src in self._sources.values() if src.ends_at > now), default=float("inf"))
        self._next = (self.version, until)
        return until

    def gc(self, now: float) -> int:
        expired = [fp for fp, src in self._sources.items() if src.ends_at <= now]
        for fp in expired:
            src = self._sources.pop(fp)
            for rule in self._rules:
                bucket = rule.by_equal.get(rule.key(src.labels))
                if bucket is not None:
                    bucket.discard(fp)
                    if not bucket:
                        del rule.by_equal[rule.key(src.labels)]
            self._state.delete(PREFIX + fp)
        return len(expired)

    def _index(self, fp: str, src: _Source) -> None:
        self._sources[fp] = src
        for rule in self._rules:
            if matches_all(rule.sources, src.labels):
                rule.by_equal.setdefault(rule.key(src.labels), set()).add(fp)
