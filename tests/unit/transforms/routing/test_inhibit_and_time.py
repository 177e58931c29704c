"""Inhibition (docs/configuration.md §`<inhibit_rule>`) and time intervals (§`<time_interval>`, route
`mute_time_intervals` / `active_time_intervals`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.transforms.routing import Dispatcher, RoutingConfig, RoutingConfigError, parse_routing_config
from pipeline.transforms.rules import Alert, MemoryRuleState

T0 = 1_800_000_000.0  # Friday 2027-01-15 08:00 UTC = 16:00 in Asia/Shanghai
FAR = T0 + 100 * 3600
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def names(notifications: list[Any]) -> list[str]:
    return sorted(f"{a.labels['alertname']}:{a.labels.get('user', '')}" for n in notifications for a in n.alerts)


# --- inhibition

INHIBIT = [{"source_matchers": ['alertname="pipeline_gap"'], "target_matchers": ['severity="warning"'],
            "equal": ["corp"]}]


def inhibiting(routing: Routing, factory: Factory, rules: list[dict[str, Any]] | None = None) -> Dispatcher:
    return factory(routing(route={"group_wait": "0s", "group_by": ["..."]}, inhibit_rules=rules or INHIBIT))


def test_source_alert_mutes_targets_with_equal_labels(routing: Routing, make_alert: MakeAlert,
                                                      dispatcher_factory: Factory) -> None:
    """§inhibit_rule: targets are muted while a source alert exists and `equal` labels carry the same values."""
    d = inhibiting(routing, dispatcher_factory)
    assert names(d.ingest(make_alert("pipeline_gap", severity="critical", ends_at=FAR), T0)) == ["pipeline_gap:"]
    assert d.ingest(make_alert("login_new_ip", user="u1", severity="warning"), T0 + 1) == []
    other_corp = make_alert("login_new_ip", user="u1", severity="warning", corp="c2")
    assert names(d.ingest(other_corp, T0 + 2)) == ["login_new_ip:u1"], "different corp: not inhibited"
    assert names(d.ingest(make_alert("x", user="u2", severity="critical"), T0 + 3)) == ["x:u2"], "not a target"


def test_inhibition_ends_when_source_resolves(routing: Routing, make_alert: MakeAlert,
                                              dispatcher_factory: Factory) -> None:
    d = inhibiting(routing, dispatcher_factory)
    d.ingest(make_alert("pipeline_gap", severity="critical", ends_at=FAR), T0)
    d.ingest(make_alert("login_new_ip", user="u1", severity="warning", ends_at=FAR), T0 + 1)
    d.ingest(make_alert("pipeline_gap", severity="critical", ends_at=T0 + 100), T0 + 100)
    out = d.tick(T0 + 301)
    assert "login_new_ip:u1" in names(out), "the target is notified once the source resolved"


def test_missing_equal_label_counts_as_empty(routing: Routing, make_alert: MakeAlert,
                                             dispatcher_factory: Factory) -> None:
    """§inhibit_rule: "if all the label names listed in equal are missing from both the source and target
    alerts, the inhibition rule will apply"."""
    rules = [{"source_matchers": ['alertname="S"'], "target_matchers": ['alertname="T"'], "equal": ["zone"]}]
    d = inhibiting(routing, dispatcher_factory, rules)
    d.ingest(make_alert("S", ends_at=FAR), T0)
    assert d.ingest(make_alert("T", user="u1"), T0 + 1) == []
    assert names(d.ingest(make_alert("T", user="u2", zone="z1"), T0 + 2)) == ["T:u2"]


def test_alert_matching_both_sides_cannot_inhibit_itself(routing: Routing, make_alert: MakeAlert,
                                                         dispatcher_factory: Factory) -> None:
    """§inhibit_rule: "an alert that matches both the target and the source side of a rule cannot be inhibited
    by alerts for which the same is true (including itself)"."""
    rules = [{"source_matchers": ['severity=~"warning|critical"'], "target_matchers": ['severity="warning"'],
              "equal": ["corp"]}]
    d = inhibiting(routing, dispatcher_factory, rules)
    assert names(d.ingest(make_alert("W1", severity="warning", ends_at=FAR), T0)) == ["W1:"]
    assert names(d.ingest(make_alert("W2", severity="warning", ends_at=FAR), T0 + 1)) == ["W2:"], \
        "another two-sided alert cannot inhibit it either"
    d.ingest(make_alert("C", severity="critical", ends_at=FAR), T0 + 2)
    assert d.ingest(make_alert("W3", severity="warning"), T0 + 3) == [], "a source-only alert does inhibit it"


def test_inhibition_survives_restart(routing: Routing, make_alert: MakeAlert) -> None:
    state = MemoryRuleState(json_roundtrip=True)
    cfg = routing(route={"group_wait": "0s", "group_by": ["..."]}, inhibit_rules=INHIBIT)
    Dispatcher(cfg, state).ingest(make_alert("pipeline_gap", severity="critical", ends_at=FAR), T0)
    fresh = Dispatcher(cfg, MemoryRuleState(state.snapshot(), json_roundtrip=True))
    assert fresh.ingest(make_alert("login_new_ip", user="u1", severity="warning"), T0 + 5) == []
    fresh.tick(FAR + 1)
    assert list(fresh.state.items("is/")) == [], "resolved sources are garbage-collected"


# --- time intervals

OFFICE = {"name": "office", "time_intervals": [{"weekdays": ["monday:friday"],
                                                 "times": [{"start_time": "09:00", "end_time": "18:00"}],
                                                 "location": "Asia/Shanghai"}]}


def interval_config(**spec: Any) -> RoutingConfig:
    route = {"receiver": "r", "routes": [{"receiver": "r", "mute_time_intervals": ["t"]}]}
    return parse_routing_config({"route": route,
                                 "receivers": [{"name": "r"}],
                                 "time_intervals": [{"name": "t", "time_intervals": [spec]}]})


def active(cfg: RoutingConfig, when: float) -> bool:
    from pipeline.transforms.routing._timeintervals import is_active

    return is_active(cfg.intervals()["t"], when)


@pytest.mark.parametrize(("spec", "when", "expected"), [
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2027-01-15T09:00:00+00:00", True),
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2027-01-15T17:00:00+00:00", False),
    ({"times": [{"start_time": "17:00", "end_time": "24:00"}]}, "2027-01-15T23:59:59+00:00", True),
    ({"times": [{"start_time": "09:00", "end_time": "18:00"}], "location": "Asia/Shanghai"},
     "2027-01-15T10:30:00+00:00", False),
    ({"times": [{"start_time": "09:00", "end_time": "18:00"}], "location": "Asia/Shanghai"},
     "2027-01-15T02:30:00+00:00", True),
    ({"weekdays": ["monday:friday"]}, "2027-01-15T12:00:00+00:00", True),
    ({"weekdays": ["saturday", "sunday"]}, "2027-01-15T12:00:00+00:00", False),
    ({"weekdays": ["saturday"], "location": "Asia/Shanghai"}, "2027-01-15T16:30:00+00:00", True),
    ({"weekdays": ["Sunday"]}, "2027-01-17T00:00:00+00:00", True),
    ({"days_of_month": ["-1"]}, "2027-02-28T10:00:00+00:00", True),
    ({"days_of_month": ["-3:-1"]}, "2027-01-28T10:00:00+00:00", False),
    ({"days_of_month": ["-3:-1"]}, "2027-01-29T10:00:00+00:00", True),
    ({"days_of_month": ["1:31"]}, "2027-02-28T10:00:00+00:00", True),
    ({"days_of_month": ["1:5"]}, "2027-01-15T10:00:00+00:00", False),
    ({"months": ["january:march"]}, "2027-03-31T10:00:00+00:00", True),
    ({"months": ["12", "may:august"]}, "2027-01-15T10:00:00+00:00", False),
    ({"years": ["2026:2027"]}, "2027-01-15T10:00:00+00:00", True),
    ({"years": ["2030"]}, "2027-01-15T10:00:00+00:00", False),
    ({"weekdays": ["friday"], "months": ["february"]}, "2027-01-15T10:00:00+00:00", False),
    ({}, "2027-01-15T10:00:00+00:00", True),
])
def test_time_interval_fields(spec: dict[str, Any], when: str, expected: bool) -> None:
    """§time_interval_spec: all given fields must match; times are [start, end); ranges inclusive; negative days
    count from the end of the month; `location` is an IANA zone (default UTC)."""
    assert active(interval_config(**spec), ts(when)) is expected


@pytest.mark.parametrize(("spec", "message"), [
    ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, "must be before"),
    ({"times": [{"start_time": "25:00", "end_time": "26:00"}]}, "out of range"),
    ({"weekdays": ["friday:monday"]}, "ends before it starts"),
    ({"days_of_month": ["0"]}, "1..31"),
    ({"months": ["13"]}, "1..12"),
    ({"location": "Mars/Olympus"}, "unknown IANA time zone"),
])
def test_time_interval_errors(spec: dict[str, Any], message: str) -> None:
    with pytest.raises(RoutingConfigError, match=message):
        interval_config(**spec)


def test_mute_time_interval_holds_notifications_until_it_ends(routing: Routing, make_alert: MakeAlert,
                                                              dispatcher_factory: Factory) -> None:
    """§route mute_time_intervals: "When a route is muted it will not send any notifications, but otherwise acts
    normally" — the group keeps its alerts and notifies at the first flush after the mute window."""
    cfg = routing(route={"group_wait": "0s", "group_interval": "5m", "routes": [
        {"matchers": ['alertname="A"'], "mute_time_intervals": ["office"]}]}, time_intervals=[OFFICE])
    d = dispatcher_factory(cfg)
    in_office = ts("2027-01-15T10:00:00+08:00")
    assert d.ingest(make_alert("A", starts_at=in_office, ends_at=FAR * 2), in_office) == []
    assert names(d.ingest(make_alert("B", starts_at=in_office, ends_at=FAR * 2), in_office)) == ["B:"], \
        "other routes are not muted"
    out: list[Any] = []
    due = 0.0
    while not out:
        next_due = d.next_due()
        assert next_due is not None
        due = next_due
        out = [n for n in d.tick(due) if n.group_labels == {"alertname": "A"}]
    assert due >= ts("2027-01-15T18:00:00+08:00")
    assert out[0].reason == "first notification"


def test_active_time_interval_sends_only_inside(routing: Routing, make_alert: MakeAlert,
                                               dispatcher_factory: Factory) -> None:
    """§route active_time_intervals: "The route will send notifications only when active"."""
    cfg = routing(route={"group_wait": "0s", "routes": [
        {"matchers": ['alertname="A"'], "active_time_intervals": ["office"]}]}, time_intervals=[OFFICE])
    d = dispatcher_factory(cfg)
    night = ts("2027-01-15T22:00:00+08:00")
    assert d.ingest(make_alert("A", starts_at=night, ends_at=FAR * 2), night) == []
    morning = ts("2027-01-18T09:00:00+08:00")  # Monday
    out: list[Any] = []
    due = 0.0
    while not out:
        next_due = d.next_due()
        assert next_due is not None
        due = next_due
        out = d.tick(due)
    assert morning <= due < morning + 300
