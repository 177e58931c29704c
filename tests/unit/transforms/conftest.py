"""Factories for the alerting tests: synthetic normalized events, alerts, routing configs, JSON round-trip state."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope, utc_iso
from pipeline.transforms.routing import Dispatcher, RoutingConfig, SilenceStore, parse_routing_config
from pipeline.transforms.rules import Alert, MemoryRuleState

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z, a Friday

EventFactory = Callable[..., Envelope]
AlertFactory = Callable[..., Alert]


@pytest.fixture
def t0() -> float:
    return T0


@pytest.fixture
def make_event() -> EventFactory:
    """make_event(dataset, doc=..., t=T0, corp="c1", id=None): an exmail.event/1 envelope around an ECS doc."""
    counter = itertools.count()

    def factory(dataset: str, doc: dict[str, Any] | None = None, *, t: float = T0, corp: str = "c1",
                id: str | None = None) -> Envelope:
        data: dict[str, Any] = {"@timestamp": utc_iso(t), "event": {"dataset": dataset, "kind": "event"},
                                "organization": {"id": corp}}
        for key, value in (doc or {}).items():
            if key == "event":
                data["event"] = {**data["event"], **value}
            else:
                data[key] = value
        return Envelope(schema="exmail.event/1", id=id or f"ev{next(counter)}", corp_id=corp,
                        source="test", occurred_at=utc_iso(t), observed_at=utc_iso(t), data=data)

    return factory


@pytest.fixture
def make_alert() -> AlertFactory:
    """make_alert(alertname, starts_at=T0, ends_at=starts_at+300, **labels)."""

    def factory(alertname: str = "a", starts_at: float = T0, ends_at: float | None = None,
                annotations: dict[str, str] | None = None, **labels: str) -> Alert:
        all_labels = {"alertname": alertname, "corp": "c1", **labels}
        return Alert(labels=all_labels, annotations=annotations or {"summary": f"{alertname} {labels}"},
                     starts_at=starts_at, ends_at=starts_at + 300 if ends_at is None else ends_at, rule=alertname)

    return factory


@pytest.fixture
def routing() -> Callable[..., RoutingConfig]:
    """routing(route={...}, receivers=[...], **rest) with a default receiver set."""

    def factory(route: dict[str, Any] | None = None, receivers: list[dict[str, Any]] | None = None,
                **rest: Any) -> RoutingConfig:
        route = {"receiver": "default", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "5m",
                 "repeat_interval": "4h", **(route or {})}
        if receivers is None:
            names = {"default"}
            stack = [route]
            while stack:
                r = stack.pop()
                if r.get("receiver"):
                    names.add(r["receiver"])
                stack.extend(r.get("routes", []))
            receivers = [{"name": n, "send_resolved": True} for n in sorted(names)]
        return parse_routing_config({"route": route, "receivers": receivers, **rest})

    return factory


@pytest.fixture
def dispatcher_factory() -> Callable[..., Dispatcher]:
    """dispatcher_factory(config, state=None, silences=None): a Dispatcher on JSON round-trip state."""

    def factory(config: RoutingConfig, state: MemoryRuleState | None = None,
                silences: SilenceStore | None = None) -> Dispatcher:
        return Dispatcher(config, state if state is not None else MemoryRuleState(json_roundtrip=True), silences)

    return factory
