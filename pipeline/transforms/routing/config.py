"""Routing configuration in Alertmanager's shape: `route` tree, `receivers`, `inhibit_rules`, `time_intervals`.

Only what routing needs is modelled here; a receiver's delivery settings (WeCom keys, URLs) belong to the
delivery stage, so receivers accept extra keys and routing reads `name` and `send_resolved`.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pipeline.transforms.routing import _timeintervals as ti
from pipeline.transforms.routing.matchers import Matcher, MatcherError, parse_matcher_list
from pipeline.transforms.rules.durations import Duration


class RoutingConfigError(ValueError):
    """The routing configuration is invalid; `errors` lists "location: problem" lines."""

    hint = "fix the route tree (Alertmanager syntax; pipeline/transforms/routing/README.md)"  # check-config's

    def __init__(self, errors: list[str], source: str = "routing", *, hint: str | None = None) -> None:
        self.errors = errors
        if hint is not None:
            self.hint = hint
        super().__init__(f"{source}: " + ("; ".join(errors) if len(errors) == 1 else
                                           "\n  " + "\n  ".join(errors)))


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _check_matchers(items: list[str]) -> list[str]:
    try:
        parse_matcher_list(items)
    except MatcherError as exc:
        raise ValueError(str(exc)) from exc
    return items


class RouteConfig(_Model):
    receiver: str | None = None
    group_by: list[str] | None = None
    continue_: bool = Field(False, alias="continue")
    matchers: list[str] = Field(default_factory=list)
    match: dict[str, str] = Field(default_factory=dict, description="deprecated: equality matchers")
    match_re: dict[str, str] = Field(default_factory=dict, description="deprecated: regex matchers")
    group_wait: Duration | None = None
    group_interval: Duration | None = None
    repeat_interval: Duration | None = None
    mute_time_intervals: list[str] = Field(default_factory=list)
    active_time_intervals: list[str] = Field(default_factory=list)
    routes: list[RouteConfig] = Field(default_factory=list)

    @field_validator("matchers")
    @classmethod
    def _matchers_parse(cls, v: list[str]) -> list[str]:
        return _check_matchers(v)

    @field_validator("group_by")
    @classmethod
    def _group_by(cls, v: list[str] | None) -> list[str] | None:
        if v is not None and "..." in v and len(v) > 1:
            raise ValueError("'...' must be the only entry of group_by")
        if v is not None and len(set(v)) != len(v):
            raise ValueError("group_by lists a label twice")
        return v

    @field_validator("group_interval", "repeat_interval")
    @classmethod
    def _positive(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than zero")
        return v

    def all_matchers(self) -> list[Matcher]:
        out = parse_matcher_list(self.matchers)
        out.extend(Matcher.create(k, "=", v) for k, v in sorted(self.match.items()))
        out.extend(Matcher.create(k, "=~", v) for k, v in sorted(self.match_re.items()))
        return out


class ReceiverConfig(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str = Field(min_length=1)
    send_resolved: bool = False


class InhibitRuleConfig(_Model):
    name: str | None = None
    source_matchers: list[str] = Field(default_factory=list)
    target_matchers: list[str] = Field(default_factory=list)
    source_match: dict[str, str] = Field(default_factory=dict)
    source_match_re: dict[str, str] = Field(default_factory=dict)
    target_match: dict[str, str] = Field(default_factory=dict)
    target_match_re: dict[str, str] = Field(default_factory=dict)
    equal: list[str] = Field(default_factory=list)

    @field_validator("source_matchers", "target_matchers")
    @classmethod
    def _matchers_parse(cls, v: list[str]) -> list[str]:
        return _check_matchers(v)

    def sources(self) -> list[Matcher]:
        return _combined(self.source_matchers, self.source_match, self.source_match_re)

    def targets(self) -> list[Matcher]:
        return _combined(self.target_matchers, self.target_match, self.target_match_re)


class TimeRangeConfig(_Model):
    start_time: str
    end_time: str


class TimeIntervalSpecConfig(_Model):
    times: list[TimeRangeConfig] = Field(default_factory=list)
    weekdays: list[str] = Field(default_factory=list)
    days_of_month: list[str | int] = Field(default_factory=list)
    months: list[str | int] = Field(default_factory=list)
    years: list[str | int] = Field(default_factory=list)
    location: str | None = None

    @model_validator(mode="after")
    def _parses(self) -> TimeIntervalSpecConfig:
        self.compile()
        return self

    def compile(self) -> ti.IntervalSpec:
        return ti.IntervalSpec(
            times=ti.parse_times([t.model_dump() for t in self.times]),
            weekdays=ti.parse_weekdays(self.weekdays),
            days_of_month=ti.parse_days_of_month(self.days_of_month),
            months=ti.parse_months(self.months),
            years=ti.parse_years(self.years),
            location=ti.parse_location(self.location),
        )


class TimeIntervalConfig(_Model):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpecConfig] = Field(default_factory=list)


class RoutingConfig(_Model):
    route: RouteConfig
    receivers: list[ReceiverConfig]
    inhibit_rules: list[InhibitRuleConfig] = Field(default_factory=list)
    time_intervals: list[TimeIntervalConfig] = Field(default_factory=list)
    notification_log_retention: Duration = Field(120 * 3600.0, description="as --data.retention (120h)")

    @model_validator(mode="after")
    def _references(self) -> RoutingConfig:
        names = [r.name for r in self.receivers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"receiver names must be unique: {', '.join(dupes)}")
        intervals = [t.name for t in self.time_intervals]
        if len(set(intervals)) != len(intervals):
            raise ValueError("time interval names must be unique")
        root = self.route
        if root.receiver is None:
            raise ValueError("route.receiver: the root route needs a receiver")
        if root.all_matchers():
            raise ValueError("route: the root route must not have matchers (it must match every alert)")
        if root.mute_time_intervals or root.active_time_intervals:
            raise ValueError("route: the root route cannot have mute_time_intervals or active_time_intervals")
        if root.continue_:
            raise ValueError("route: the root route cannot have continue")
        known_receivers, known_intervals = set(names), set(intervals)

        def walk(r: RouteConfig, where: str) -> None:
            if r.receiver is not None and r.receiver not in known_receivers:
                raise ValueError(f"{where}.receiver: undefined receiver {r.receiver!r}")
            for name in [*r.mute_time_intervals, *r.active_time_intervals]:
                if name not in known_intervals:
                    raise ValueError(f"{where}: undefined time interval {name!r}")
            for i, child in enumerate(r.routes):
                walk(child, f"{where}.routes[{i}]")

        walk(root, "route")
        return self

    def send_resolved(self) -> dict[str, bool]:
        return {r.name: r.send_resolved for r in self.receivers}

    def intervals(self) -> dict[str, tuple[ti.IntervalSpec, ...]]:
        return {t.name: tuple(s.compile() for s in t.time_intervals) for t in self.time_intervals}

    def partition_labels(self) -> tuple[str, ...]:
        """The labels exmail.alerts is keyed by: those every route groups by (inherited group_by resolved;
        `...` groups by all) and every inhibit rule lists in `equal`. Two alerts of one aggregation group
        agree on them, and so do an inhibiting source and its targets, so each partition's dispatcher sees
        whole groups and every source that can mute them. Empty: one key, one partition does all dispatch."""
        common: set[str] | None = None

        def walk(r: RouteConfig, inherited: list[str] | None) -> None:
            nonlocal common
            group_by = r.group_by if r.group_by is not None else inherited
            if group_by is not None and "..." not in group_by:
                common = set(group_by) if common is None else common & set(group_by)
            elif group_by is None:
                common = set()  # no group_by: one group per route, so nothing to partition by
            for child in r.routes:
                walk(child, group_by)

        walk(self.route, None)
        for rule in self.inhibit_rules:
            common = set(rule.equal) if common is None else common & set(rule.equal)
        return tuple(sorted(common or ()))

    def partition_key(self, labels: Mapping[str, str]) -> bytes:
        """The Kafka key of an alert on exmail.alerts (see `partition_labels`)."""
        names = self._partition_labels
        if not names:
            return b"*"
        return "\x00".join(f"{n}={labels.get(n, '')}" for n in names).encode()

    @functools.cached_property
    def _partition_labels(self) -> tuple[str, ...]:
        return self.partition_labels()


def _combined(strings: list[str], eq: dict[str, str], rx: dict[str, str]) -> list[Matcher]:
    out = parse_matcher_list(strings)
    out.extend(Matcher.create(k, "=", v) for k, v in sorted(eq.items()))
    out.extend(Matcher.create(k, "=~", v) for k, v in sorted(rx.items()))
    return out


def parse_routing_config(obj: Any, *, source: str = "routing") -> RoutingConfig:
    """Validate a routing config given as a dict or YAML text; errors name the field."""
    if isinstance(obj, str):
        try:
            obj = yaml.safe_load(obj)
        except yaml.YAMLError as exc:
            raise RoutingConfigError([f"not valid YAML: {exc}"], source) from exc
    if not isinstance(obj, Mapping):
        raise RoutingConfigError([f"must be a mapping, got {type(obj).__name__}"], source)
    try:
        return RoutingConfig.model_validate(dict(obj))
    except ValidationError as exc:
        raise RoutingConfigError(_describe(exc), source) from None


def load_routing_config(path: str | Path) -> RoutingConfig:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise RoutingConfigError([f"cannot read: {exc.strerror}"], str(p)) from exc
    return parse_routing_config(text, source=str(p))


def _describe(exc: ValidationError) -> list[str]:
    lines = []
    for err in exc.errors():
        parts: list[str] = []
        for item in err["loc"]:
            if isinstance(item, int):
                parts[-1:] = [f"{parts[-1]}[{item}]"] if parts else [f"[{item}]"]
            else:
                parts.append("continue" if item == "continue_" else str(item))
        msg = err["msg"].removeprefix("Value error, ")
        lines.append(f"{'.'.join(parts)}: {msg}" if parts else msg)
    return lines
