"""Inhibition (Alertmanager docs/configuration.md §`<inhibit_rule>`): equal labels, resolution, restarts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pipeline.transforms.routing import Dispatcher, RoutingConfig
from pipeline.transforms.rules import Alert, MemoryRuleState

T0 = 1_800_000_000.0  # Friday 2027-01-15 08:00 UTC = 16:00 in Asia/Shanghai
FAR = T0 + 100 * 3600
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]


def names(notifications: list[Any]) -> list[str]:
    return sorted(f"{a.labels['alertname']}:{a.labels.get('user', '')}" for n in notifications for a in n.alerts)


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
