"""Time intervals (Alertmanager docs/configuration.md §`<time_interval>`, route `mute_time_intervals` /
`active_time_intervals`)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from pipeline.transforms.routing import Dispatcher, RoutingConfig, RoutingConfigError, parse_routing_config
from pipeline.transforms.rules import Alert

T0 = 1_800_000_000.0  # Friday 2027-01-15 08:00 UTC = 16:00 in Asia/Shanghai
FAR = T0 + 100 * 3600
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]


def ts(text: str) -> float:
    return datetime.fromisoformat(text).astimezone(UTC).timestamp()


def names(notifications: list[Any]) -> list[str]:
    return sorted(f"{a.labels['alertname']}:{a.labels.get('user', '')}" for n in notifications for a in n.alerts)


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
