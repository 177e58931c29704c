"""The Dispatcher's timers: an idle group is never touched by a tick; a group is armed only when a flush can do
something (resolve, repeat, a silence or inhibition change, a time-interval boundary), at the grid point the
reference (a flush at every group_interval) would use; a restart restores the due times."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transforms.routing import Dispatcher, Notification, RoutingConfig, SilenceStore, parse_routing_config
from pipeline.transforms.rules import Alert, MemoryRuleState
from tests.unit.transforms.routing.test_dispatcher_idle_flushes import alert_of

T0 = 1_800_000_000.0  # 2027-01-15T08:00:00Z
FAR = T0 + 100 * 3600
Routing = Callable[..., RoutingConfig]
MakeAlert = Callable[..., Alert]
Factory = Callable[..., Dispatcher]


def fast(routing: Routing, **route: Any) -> RoutingConfig:
    return routing(route={"group_by": ["alertname", "user"], "group_wait": "0s", "group_interval": "1s",
                          "repeat_interval": "1h", **route})


class Flushes:
    """Counts Dispatcher._flush calls per group id."""

    def __init__(self, d: Dispatcher) -> None:
        self.by_group: dict[str, int] = {}
        original = d._flush

        def counting(group: Any, now: float) -> list[Notification]:
            self.by_group[group.gid] = self.by_group.get(group.gid, 0) + 1
            return original(group, now)

        d._flush = counting  # type: ignore[method-assign]

    @property
    def total(self) -> int:
        return sum(self.by_group.values())


def live_timers(d: Dispatcher) -> list[float]:
    groups = {g.gid: g for g in d._groups.values()}
    return sorted(when for when, gid in d._heap if gid in groups and groups[gid].timer == when)


def test_idle_groups_cost_no_work_per_tick(routing: Routing, make_alert: MakeAlert,
                                          dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(fast(routing))
    sent = [n for i in range(500) for n in d.ingest(make_alert("A", user=f"u{i}", ends_at=FAR), T0)]
    assert len(sent) == 500
    heap_size = len(d._heap)
    assert live_timers(d) == [T0 + 3600] * 500, "one timer per group: its repeat"
    flushes = Flushes(d)
    due_calls = 0
    original_due = d._due

    def counting_due(group: Any) -> float:
        nonlocal due_calls
        due_calls += 1
        return original_due(group)

    d._due = counting_due  # type: ignore[method-assign]
    for step in range(1, 600):  # ten minutes of ticks every second
        assert d.tick(T0 + step) == []
    assert flushes.total == 0 and due_calls == 0, "no idle group was looked at"
    assert len(d._heap) == heap_size, "and no timer was re-armed"
    assert [g.next_due for g in d.groups()][:1] == [T0 + 600], "its grid point is computed when asked"


def test_an_alert_for_an_idle_group_waits_for_its_next_group_interval_point(
        routing: Routing, make_alert: MakeAlert, dispatcher_factory: Factory) -> None:
    """§route group_interval, with no timer on the idle group: the ticks tell the dispatcher which points passed."""
    d = dispatcher_factory(fast(routing, group_by=["alertname"], group_interval="5m"))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    for step in range(1, 302):
        assert d.tick(T0 + step) == []
    assert d.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 301.5) == []
    assert d.ingest(make_alert("B", user="u1", ends_at=FAR), T0 + 301.5) != [], "a new group: group_wait 0"
    assert d.next_due() == T0 + 600
    assert d.tick(T0 + 599) == []
    [n] = d.tick(T0 + 600)
    assert n.reason == "new alerts added" and sorted(a.labels["user"] for a in n.alerts) == ["u1", "u2"]


def test_resolve_flushes_at_the_first_grid_point_after_ends_at(routing: Routing, make_alert: MakeAlert,
                                                              dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(fast(routing))
    [first] = d.ingest(make_alert("A", user="u1", ends_at=T0 + 10.3), T0)
    assert first.status == "firing"
    assert d.next_due() == T0 + 10.3, "armed for the resolve, not per interval"
    for step in range(1, 22):
        assert d.tick(T0 + step / 2) == [], "the resolve waits for the group's grid point"
    assert d.next_due() == T0 + 11
    [resolved] = d.tick(T0 + 11)
    assert resolved.reason == "all alerts resolved" and resolved.status == "resolved"
    assert d.groups() == [] and d.next_due() is None


def test_repeat_interval_on_the_grid_with_one_flush_per_repeat(routing: Routing, make_alert: MakeAlert,
                                                               dispatcher_factory: Factory) -> None:
    d = dispatcher_factory(fast(routing, repeat_interval="10s"))
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    flushes = Flushes(d)
    sent: list[tuple[float, str, int]] = []
    while len(sent) < 3:
        now = d.next_due() or 0
        sent.extend((now - T0, n.reason, n.sequence) for n in d.tick(now))
    assert sent == [(11, "repeat interval elapsed", 1), (22, "repeat interval elapsed", 2),
                    (33, "repeat interval elapsed", 3)], "strictly after repeat_interval, rounded up to the grid"
    assert flushes.total <= 2 * len(sent), "the flushes of 33 intervals: the repeats and their boundaries"


def test_a_silence_change_re_evaluates_every_group_once(routing: Routing, make_alert: MakeAlert,
                                                        dispatcher_factory: Factory) -> None:
    silences = SilenceStore()
    d = dispatcher_factory(fast(routing), silences=silences)
    silence, _ = silences.set({"matchers": ["user=u1"], "created_by": "t", "comment": "c", "starts_at": T0,
                            "duration": "1h"}, now=T0)
    assert d.ingest(make_alert("A", user="u1", ends_at=FAR), T0) == [], "silenced"
    assert len(d.ingest(make_alert("A", user="u2", ends_at=FAR), T0)) == 1
    for step in range(1, 11):
        assert d.tick(T0 + step / 2) == []
    flushes = Flushes(d)
    assert flushes.total == 0
    silences.expire(silence.id, T0 + 5.2)
    assert d.tick(T0 + 5.5) == [], "both groups wait for their grid point"
    [n] = d.tick(T0 + 6)
    assert n.reason == "first notification" and [a.labels["user"] for a in n.alerts] == ["u1"]
    assert sorted(flushes.by_group.values()) == [1, 1], "each group flushed once for the change"
    for step in range(7, 60):
        assert d.tick(T0 + step) == []
    assert flushes.total == 2, "then idle again"


def test_an_inhibition_change_re_evaluates_only_the_groups_it_can_mute(routing: Routing, make_alert: MakeAlert,
                                                                      dispatcher_factory: Factory) -> None:
    cfg = fast(routing, group_by=["alertname", "user"])
    cfg = routing(route={"group_by": ["alertname", "user"], "group_wait": "0s", "group_interval": "1s"},
                  inhibit_rules=[{"source_matchers": ["alertname=Src"], "target_matchers": ["alertname=Tgt"],
                                  "equal": ["user"]}])
    d = dispatcher_factory(cfg)
    d.ingest(make_alert("Tgt", user="u1", ends_at=FAR), T0)
    d.ingest(make_alert("Other", user="u1", ends_at=FAR), T0)
    flushes = Flushes(d)
    [src] = d.ingest(make_alert("Src", user="u1", ends_at=FAR), T0 + 2.5)
    assert src.group_labels == {"alertname": "Src", "user": "u1"}
    d.tick(T0 + 3)
    by_name = {g.labels["alertname"]: flushes.by_group.get(g.group_id, 0) for g in d.groups()}
    assert by_name == {"Tgt": 1, "Other": 0, "Src": 1}, "Other holds no alert an inhibit rule targets"


def test_restart_restores_pending_and_idle_due_times(routing: Routing, make_alert: MakeAlert,
                                                     dispatcher_factory: Factory) -> None:
    cfg = routing(route={"group_wait": "30s", "group_interval": "10s", "repeat_interval": "1h"})
    d = dispatcher_factory(cfg)
    d.ingest(make_alert("A", user="u1", ends_at=FAR), T0)
    assert len(d.tick(T0 + 30)) == 1
    d.ingest(make_alert("A", user="u2", ends_at=FAR), T0 + 33)  # pending until T0 + 40
    assert isinstance(d.state, MemoryRuleState)
    fresh = dispatcher_factory(cfg, MemoryRuleState(d.state.snapshot(), json_roundtrip=True), d.silences)
    assert fresh.next_due() == T0 + 40, "the stored due time of the pending change"
    assert fresh.tick(T0 + 39) == []
    [n] = fresh.tick(T0 + 40)
    assert n.reason == "new alerts added"
    assert fresh.next_due() == T0 + 40 + 3600, "then only the repeat is armed"
    again = dispatcher_factory(cfg, MemoryRuleState(fresh.state.snapshot(), json_roundtrip=True), d.silences)
    assert again.next_due() == T0 + 50, "a restored group flushes at its stored due time"
    assert again.tick(T0 + 50) == [], "and the notification log finds nothing new"
    assert again.next_due() == T0 + 40 + 3600


# --- time intervals: the boundary timers give what a flush every interval gives

OFFICE = {"name": "odd-minutes", "time_intervals": [{"times": [
    {"start_time": f"08:{m:02d}", "end_time": f"08:{m + 1:02d}"} for m in range(1, 40, 2)]}]}
INTERVALS = parse_routing_config({
    "route": {"receiver": "ops", "group_by": ["alertname", "user"], "group_wait": "2s", "group_interval": "7s",
              "repeat_interval": "10m", "routes": [
                  {"matchers": ["alertname=M"], "mute_time_intervals": ["odd-minutes"]},
                  {"matchers": ["alertname=A"], "active_time_intervals": ["odd-minutes"]},
              ]},
    "receivers": [{"name": "ops", "send_resolved": True}],
    "time_intervals": [OFFICE],
})

_ops = st.lists(st.one_of(
    st.tuples(st.just("alert"), st.sampled_from(["M", "A", "X"]), st.sampled_from(["u1", "u2"]),
              st.integers(min_value=0, max_value=200)),
    st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=45.0)),
), min_size=1, max_size=60)


def _seen(notes: list[Notification]) -> list[tuple[Any, ...]]:
    return [(n.id, n.reason, n.sequence, sorted(a.fingerprint or "" for a in n.alerts), sorted(n.resolved))
            for n in notes]


@settings(max_examples=150, deadline=None)
@given(ops=_ops)
def test_time_interval_boundaries_wake_the_groups(ops: list[tuple[Any, ...]]) -> None:
    ids = itertools.count()
    lazy = Dispatcher(INTERVALS, silences=SilenceStore(id_factory=lambda: f"s{next(ids)}"))
    reference = Dispatcher(INTERVALS, skip_idle_flushes=False)
    now = T0
    for op in ops:
        if op[0] == "alert":
            alert = alert_of(op, now)
            assert _seen(lazy.ingest(alert, now)) == _seen(reference.ingest(alert, now))
        else:
            now += op[1]
        assert _seen(lazy.tick(now)) == _seen(reference.tick(now))
    for _ in range(60):
        now += 20
        assert _seen(lazy.tick(now)) == _seen(reference.tick(now))
