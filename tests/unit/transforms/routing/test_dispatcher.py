"""Aggregation groups, timers, dedup and persistence of the Dispatcher, from Alertmanager's documented semantics
(docs/configuration.md §route timers; notify/dedup_stage.go needsUpdate; dispatch/dispatch.go aggrGroup)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from referencing import Registry, Resource

from pipeline.transforms.routing import Dispatcher, Notification, RoutingConfig
from pipeline.transforms.routing._nflog import Entry, needs_update
from pipeline.transforms.rules import Alert, MemoryRuleState

T0 = 1_800_000_000.0
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]
FAR = T0 + 100 * 3600


def fps(n: Notification) -> list[str]:
    return sorted(a.labels.get("user", a.fingerprint) for a in n.alerts)


def restarted(d: Dispatcher, factory: Factory, config: RoutingConfig | None = None) -> Dispatcher:
    """A fresh Dispatcher on a copy of the old one's state, as after a worker restart (changelog replay)."""
    assert isinstance(d.state, MemoryRuleState)
    return factory(config or d.config, MemoryRuleState(d.state.snapshot(), json_roundtrip=True), d.silences)


# --- group_wait


def test_group_wait_batches_the_first_notification(routing: Routing, make_alert: MakeAlert,
                                                   dispatcher_factory: Factory) -> None:
    """§route group_wait: "How long to wait before sending the first notification for a new group of alerts"."""
    d = dispatcher_factory(routing())
    assert d.ingest(make_alert("A", user="u1", ends_at=FAR), T0) == []
    assert d.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 10) == []
    assert d.next_due() == T0 + 30
    assert d.tick(T0 + 29) == []
    [n] = d.tick(T0 + 30)
    assert n.reason == "first notification"
    assert fps(n) == ["u1", "u2"]
    assert n.group_labels == {"alertname": "A"}
    assert n.group_key == '{}:{alertname="A"}'
    [group] = d.groups()
    assert group.next_due == T0 + 30 + 300, "group_interval starts when group_wait has elapsed"
    assert d.next_due() == T0 + 30 + 4 * 3600, "an idle group's only timer is its repeat (at a grid point)"


def test_group_wait_zero_sends_inline(routing: Routing, make_alert: MakeAlert, dispatcher_factory: Factory) -> None:
    """group_wait 0: the first alert of a new group is notified by ingest itself, no timer hop."""
    d = dispatcher_factory(routing(route={"group_wait": "0s", "group_by": ["alertname", "user"]}))
    [n] = d.ingest(make_alert("A", user="u1"), T0)
    assert n.reason == "first notification" and fps(n) == ["u1"]
    [m] = d.ingest(make_alert("A", user="u2"), T0 + 0.001)
    assert m.group_key != n.group_key
    assert d.next_due() == T0 + 300


def test_late_alert_waits_for_group_interval(routing: Routing, make_alert: MakeAlert,
                                             dispatcher_factory: Factory) -> None:
    """§route group_wait: "A notification for any alerts that missed the initial group_wait will be sent at the
    next group_interval instead"."""
    d = dispatcher_factory(routing())
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    d.tick(T0 + 30)
    assert d.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 40) == []
    assert d.tick(T0 + 329) == []
    [n] = d.tick(T0 + 330)
    assert n.reason == "new alerts added" and fps(n) == ["u1", "u2"]


def test_resolved_within_group_wait_is_never_notified(routing: Routing, make_alert: MakeAlert,
                                                      dispatcher_factory: Factory) -> None:
    """§route group_wait: "If an alert is resolved before group_wait has elapsed, no notification will be sent
    for that alert"."""
    d = dispatcher_factory(routing())
    d.ingest(make_alert("A", user="u1", ends_at=T0 + 300), T0)
    d.ingest(make_alert("A", user="u1", ends_at=T0 + 5), T0 + 5)
    assert d.tick(T0 + 30) == []
    assert d.groups() == [], "the flushed-out resolved alert leaves an empty group, which is removed"


# --- group_interval and repeat_interval


def test_group_interval_ticks_send_only_on_change(routing: Routing, make_alert: MakeAlert,
                                                  dispatcher_factory: Factory) -> None:
    """§route group_interval: "At each group_interval, Alertmanager checks if any new alerts have fired or any
    firing alerts have resolved since the last group_interval, and if they have a notification is sent"."""
    d = dispatcher_factory(routing())
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    assert len(d.tick(T0 + 30)) == 1
    for k in range(1, 6):
        assert d.tick(T0 + 30 + 300 * k) == [], f"tick {k}: nothing changed"
    d.ingest(make_alert("A", user="u1", starts_at=T0 + 1000, ends_at=FAR + 10), T0 + 1000)
    assert d.tick(T0 + 30 + 300 * 4) == [], "a refresh of a known firing alert is no change"


def test_repeat_interval_resends_rounded_up_to_group_interval(routing: Routing, make_alert: MakeAlert,
                                                              dispatcher_factory: Factory) -> None:
    """§route repeat_interval: resend an unchanged group; "checked after each group_interval ... rounded up to
    the next multiple of the group_interval"."""
    d = dispatcher_factory(routing(route={"group_interval": "5m", "repeat_interval": "12m"}))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    [first] = d.tick(T0 + 30)
    sent: list[tuple[float, str]] = []
    t = T0 + 30
    while t < T0 + 30 + 3600:
        t = d.next_due() or 0
        sent.extend((t - (T0 + 30), n.reason) for n in d.tick(t))
    assert sent[:3] == [(900, "repeat interval elapsed"), (1800, "repeat interval elapsed"),
                        (2700, "repeat interval elapsed")]
    assert first.sequence == 0


def test_new_alerts_are_notified_before_repeat(routing: Routing, make_alert: MakeAlert,
                                               dispatcher_factory: Factory) -> None:
    """notify/dedup_stage.go: a firing set that is not a subset of the last notified one sends at once."""
    d = dispatcher_factory(routing(route={"repeat_interval": "4h"}))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    d.tick(T0 + 30)
    d.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 31)
    [n] = d.tick(T0 + 330)
    assert n.reason == "new alerts added" and n.sequence == 1


# --- resolved alerts


def test_send_resolved_true(routing: Routing, make_alert: MakeAlert, dispatcher_factory: Factory) -> None:
    """notify/dedup_stage.go: newly resolved alerts notify when send_resolved is set; all resolved always does."""
    d = dispatcher_factory(routing(receivers=[{"name": "default", "send_resolved": True}]))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    d.ingest(make_alert("A", user="u2", ends_at=FAR), T0)
    d.tick(T0 + 30)
    d.ingest(make_alert("A", user="u2", ends_at=T0 + 100), T0 + 100)
    [n] = d.tick(T0 + 330)
    assert n.reason == "some alerts resolved"
    assert [a.labels["user"] for a in n.resolved_alerts] == ["u2"]
    assert [a.labels["user"] for a in n.firing_alerts] == ["u1"]
    assert n.to_dict()["status"] == "firing" and n.to_dict()["resolved"] == 1
    assert d.tick(T0 + 630) == [], "the resolved alert was removed from the group after the flush"
    d.ingest(make_alert("A", user="u1", ends_at=T0 + 700), T0 + 700)
    [m] = d.tick(T0 + 930)
    assert m.reason == "all alerts resolved" and m.status == "resolved"
    assert m.to_dict()["title"].startswith("[RESOLVED]") and m.to_dict()["title_zh"].startswith("【已恢复】")
    assert d.groups() == [] and d.next_due() is None


def test_send_resolved_false(routing: Routing, make_alert: MakeAlert, dispatcher_factory: Factory) -> None:
    """notify/dedup_stage.go + retry stage: without send_resolved, resolved alerts are never shown; when all
    resolved the nflog is updated without sending, so the next firing alert is a first notification again."""
    d = dispatcher_factory(routing(receivers=[{"name": "default", "send_resolved": False}]))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    d.ingest(make_alert("A", user="u2", ends_at=FAR), T0)
    d.tick(T0 + 30)
    d.ingest(make_alert("A", user="u2", ends_at=T0 + 100), T0 + 100)
    assert d.tick(T0 + 330) == []
    d.ingest(make_alert("A", user="u1", ends_at=T0 + 400), T0 + 400)
    assert d.tick(T0 + 630) == []
    d.ingest(make_alert("A", user="u3", starts_at=T0 + 700, ends_at=FAR), T0 + 700)
    [n] = d.tick(T0 + 730)
    assert n.reason == "first notification" and fps(n) == ["u3"]
    assert n.sequence == 0


def test_resolved_alert_for_unknown_group_creates_nothing(routing: Routing, make_alert: MakeAlert,
                                                          dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(routing(route={"group_wait": "0s"}))
    assert d.ingest(make_alert("A", user="u1", ends_at=T0 - 1), T0) == []
    assert d.groups() == [] and list(d.state.items()) == []


def test_alert_that_times_out_resolves(routing: Routing, make_alert: MakeAlert, dispatcher_factory: Factory) -> None:
    """An alert that is not refreshed resolves at ends_at (Alertmanager resolve_timeout behaviour)."""
    d = dispatcher_factory(routing(route={"group_wait": "0s"}))
    [n] = d.ingest(make_alert("A", user="u1", ends_at=T0 + 300), T0)
    assert n.status == "firing"
    [m] = d.tick(T0 + 300)
    assert m.reason == "all alerts resolved"


# --- nflog decision table


def entry(firing: set[str], resolved: set[str] | None = None, ts: float = T0) -> Entry:
    return Entry(frozenset(firing), frozenset(resolved or ()), "h", ts, ts + 1e6, 0, ts)


@pytest.mark.parametrize(("prev", "firing", "resolved", "send_resolved", "now", "reason"), [
    (None, {"a"}, set(), True, T0, "first notification"),
    (None, set(), {"a"}, True, T0, None),
    (entry({"a"}), {"a", "b"}, set(), True, T0, "new alerts added"),
    (entry(set(), {"a"}), {"b"}, set(), True, T0, "first notification"),
    (entry({"a", "b"}), set(), {"a", "b"}, False, T0, "all alerts resolved"),
    (entry(set(), {"a"}), set(), {"a"}, True, T0, None),
    (entry({"a", "b"}), {"a"}, {"b"}, True, T0, "some alerts resolved"),
    (entry({"a", "b"}), {"a"}, {"b"}, False, T0, None),
    (entry({"a", "b"}, {"b"}), {"a"}, {"b"}, True, T0, None),
    (entry({"a"}), {"a"}, set(), True, T0 + 3600, None),
    (entry({"a"}), {"a"}, set(), True, T0 + 3601, "repeat interval elapsed"),
])
def test_nflog_reasons(prev: Entry | None, firing: set[str], resolved: set[str], send_resolved: bool, now: float,
                       reason: str | None) -> None:
    """notify/dedup_stage.go needsUpdate and NotifyReason strings."""
    assert needs_update(prev, frozenset(firing), frozenset(resolved), send_resolved, 3600, now) == reason


# --- persistence


def test_restart_mid_group_wait_sends_once(routing: Routing, make_alert: MakeAlert,
                                           dispatcher_factory: Factory) -> None:
    """A worker restart in the middle of group_wait loses nothing and sends nothing twice."""
    cfg = routing(route={"group_wait": "30s"})
    control = dispatcher_factory(cfg)
    d = dispatcher_factory(cfg)
    for disp in (control, d):
        disp.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
        disp.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 5)
    fresh = restarted(d, dispatcher_factory)
    assert fresh.next_due() == T0 + 30, "the timer is re-armed at its stored due time"
    assert fresh.tick(T0 + 29) == []
    [n] = fresh.tick(T0 + 31)
    [expected] = control.tick(T0 + 31)
    assert fps(n) == ["u1", "u2"]
    assert n.id == expected.id and n.to_dict() == expected.to_dict(), "deterministic: same notification"
    again = restarted(fresh, dispatcher_factory)
    assert again.tick(T0 + 31) == [] and again.tick(T0 + 331) == [], "nothing twice"
    assert [g.next_due for g in again.groups()] == [T0 + 631], "the grid of the flush at T0 + 31 goes on"


def test_restart_keeps_repeat_schedule_and_sequence(routing: Routing, make_alert: MakeAlert,
                                                    dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(routing(route={"group_wait": "0s", "repeat_interval": "1h"}))
    [first] = d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    d = restarted(d, dispatcher_factory)
    assert d.tick(T0 + 300) == []
    d = restarted(d, dispatcher_factory)
    repeats: list[Notification] = []
    while not repeats:
        repeats = d.tick(d.next_due() or 0)
    assert repeats[0].reason == "repeat interval elapsed"
    assert repeats[0].sequence == 1 and repeats[0].sequence_start == first.sequence_start
    assert repeats[0].id != first.id


def test_restart_with_changed_routes_reroutes_pending_alerts(routing: Routing, make_alert: MakeAlert,
                                                             dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(routing(route={"group_wait": "30s"}))
    d.ingest(make_alert("A", user="u1", team="x", ends_at=FAR), T0)
    new_cfg = routing(route={"group_wait": "30s", "routes": [{"matchers": ['team="x"'], "receiver": "team-x"}]})
    fresh = restarted(d, dispatcher_factory, new_cfg)
    assert [g.receiver for g in fresh.groups()] == ["team-x"]
    assert fresh.next_due() == T0 + 30, "due no later than the dissolved group"
    [n] = fresh.tick(T0 + 30)
    assert n.receiver == "team-x"
    assert [v["r"] for _, v in fresh.state.items("ag/")] == ['{}/{team="x"}/0'], "the old group is gone"


def test_state_values_are_json(routing: Routing, make_alert: MakeAlert) -> None:
    state = MemoryRuleState(json_roundtrip=True)
    d = Dispatcher(routing(inhibit_rules=[{"source_matchers": ['alertname="S"'], "target_matchers": ['x="y"']}]),
                   state)
    d.ingest(make_alert("S", user="u1", ends_at=FAR), T0)
    d.tick(T0 + 30)
    prefixes = {k.split("/")[0] for k in state.snapshot()}
    assert prefixes == {"ag", "ga", "nf", "is"}


# --- fan-out, ids, records


def test_continue_fans_out_with_separate_nflog(routing: Routing, make_alert: MakeAlert,
                                               dispatcher_factory: Factory) -> None:
    """§route continue: an alert matching a continue route and a later sibling is notified on both."""
    d = dispatcher_factory(routing(route={"group_wait": "0s", "routes": [
        {"matchers": ['severity="critical"'], "receiver": "oncall", "continue": True},
        {"matchers": ['corp="c1"'], "receiver": "corp1"}]}))
    out = d.ingest(make_alert("A", user="u1", severity="critical"), T0)
    assert sorted(n.receiver for n in out) == ["corp1", "oncall"]
    assert len({n.id for n in out}) == 2
    assert d.routes_for({"alertname": "A", "corp": "c2"}) == ["default"]


def test_notification_ids_are_deterministic(routing: Routing, make_alert: MakeAlert,
                                            dispatcher_factory: Factory) -> None:
    cfg = routing(route={"group_wait": "0s"})
    a = dispatcher_factory(cfg).ingest(make_alert("A", user="u1"), T0)[0]
    b = dispatcher_factory(cfg).ingest(make_alert("A", user="u1"), T0)[0]
    c = dispatcher_factory(cfg).ingest(make_alert("A", user="u1"), T0 + 1)[0]
    assert a.id == b.id
    assert a.id != c.id, "a new sequence started at another time is another notification"


SCHEMAS = Path(__file__).resolve().parents[4] / "schemas"


def validator(schema_file: str) -> jsonschema.protocols.Validator:
    alert = json.loads((SCHEMAS / "alert.v1.json").read_text())
    notification = json.loads((SCHEMAS / "notification.v1.json").read_text())
    registry: Registry = Registry().with_resources(
        [(s["$id"], Resource.from_contents(s)) for s in (alert, notification)])
    schema = alert if schema_file == "alert" else notification
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema, registry=registry)


def test_records_match_their_json_schemas(routing: Routing, make_alert: MakeAlert,
                                          dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(routing(route={"group_wait": "0s"}))
    alert = make_alert("A", user="u1", annotations={"summary": "s", "summary_zh": "中文"})
    alert.event_ids = ["e1"]
    alert.sso_user = "u1@acme.com"
    validator("alert").validate(alert.to_envelope(T0).to_dict())
    [n] = d.ingest(alert, T0)
    env = n.to_envelope()
    validator("notification").validate(env.to_dict())
    assert n.kafka_key() == b"default"
    assert env.corp_id == "c1"
    data: dict[str, Any] = env.data
    assert data["title"] == "[FIRING:1] A" and data["summary_zh"] == "[firing] 中文"
    [m] = d.tick(T0 + 300)
    validator("notification").validate(m.to_envelope().to_dict())


# --- the asyncio timer loop


async def test_tick_loop_sends_when_due_and_wakes_on_ingest(routing: Routing, make_alert: MakeAlert,
                                                            dispatcher_factory: Factory) -> None:
    """TickLoop ticks at next_due() on its clock; wake() makes it notice a timer created after it went to sleep."""
    import asyncio

    from pipeline.transforms.routing import TickLoop

    clock = [T0]
    d = dispatcher_factory(routing(route={"group_wait": "30s"}))
    sent: asyncio.Queue[Notification] = asyncio.Queue()

    async def emit(notes: list[Notification]) -> None:
        for n in notes:
            sent.put_nowait(n)

    loop = TickLoop(d, emit, clock=lambda: clock[0], max_sleep=0.01)
    task = asyncio.create_task(loop.run())
    try:
        d.ingest(make_alert("A", user="u1", ends_at=FAR), clock[0])
        loop.wake()
        await asyncio.sleep(0.05)
        assert sent.empty(), "not due yet on the loop's clock"
        clock[0] = T0 + 30
        n = await asyncio.wait_for(sent.get(), 5)
        assert n.reason == "first notification" and n.created_at == T0 + 30
    finally:
        loop.stop()
        await asyncio.wait_for(task, 5)
