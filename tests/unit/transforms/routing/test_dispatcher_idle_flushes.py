"""Skipping idle group_interval flushes changes nothing: a Dispatcher that skips them and one that flushes every
tick (the reference) emit the same notifications for any sequence of alerts, ticks, silences and inhibition."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.transforms.routing import Dispatcher, SilenceStore, parse_routing_config
from pipeline.transforms.rules import Alert

T0 = 1_800_000_000.0
CONFIG = parse_routing_config({
    "route": {"receiver": "ops", "group_by": ["alertname", "user"], "group_wait": "2s", "group_interval": "3s",
              "repeat_interval": "20s", "routes": [
                  {"receiver": "resolved", "matchers": ["alertname=B"], "continue": True},
              ]},
    "receivers": [{"name": "ops"}, {"name": "resolved", "send_resolved": True}],
    "inhibit_rules": [{"source_matchers": ["alertname=Src"], "target_matchers": ["alertname=A"],
                       "equal": ["user"]}],
    "notification_log_retention": "30s",
})

_ops = st.lists(st.one_of(
    st.tuples(st.just("alert"), st.sampled_from(["A", "B", "Src"]), st.sampled_from(["u1", "u2"]),
              st.integers(min_value=0, max_value=40)),
    st.tuples(st.just("tick"), st.floats(min_value=0.0, max_value=9.0)),
    st.tuples(st.just("silence"), st.sampled_from(["u1", "u2"]), st.integers(min_value=1, max_value=30),
              st.integers(min_value=0, max_value=10)),
    st.tuples(st.just("expire")),
), min_size=1, max_size=60)


def _seen(notes: list[Any]) -> list[tuple[Any, ...]]:
    return [(n.id, n.receiver, n.reason, n.sequence, sorted(a.fingerprint for a in n.alerts), sorted(n.resolved))
            for n in notes]



def alert_of(op: tuple[Any, ...], now: float) -> Alert:
    """The alert an ("alert", name, user, life) op of the property tests sends at `now`."""
    _, name, user, life = op
    return Alert(labels={"alertname": name, "user": user}, annotations={}, starts_at=now - 1, ends_at=now + life,
                 rule=name)

@settings(max_examples=300, deadline=None)
@given(ops=_ops)
def test_skipping_idle_flushes_emits_what_flushing_every_tick_emits(ops: list[tuple[Any, ...]]) -> None:
    ids = itertools.count()
    stores = [SilenceStore(id_factory=lambda: f"s{next(ids) // 2}"), SilenceStore(id_factory=lambda: "unused")]
    stores[1]._new_id = stores[0]._new_id  # both stores get the same ids in the same order
    fast = Dispatcher(CONFIG, silences=stores[0])
    reference = Dispatcher(CONFIG, silences=stores[1], skip_idle_flushes=False)
    now = T0
    for op in ops:
        if op[0] == "alert":
            alert = alert_of(op, now)
            assert _seen(fast.ingest(alert, now)) == _seen(reference.ingest(alert, now))
        elif op[0] == "tick":
            now += op[1]
        elif op[0] == "silence":
            _, user, duration, delay = op
            for store in stores:
                store.set({"matchers": [f"user={user}"], "created_by": "t", "comment": "c",
                           "starts_at": now + delay, "duration": f"{duration}s"}, now=now)
        else:
            for store in stores:
                for silence in store.list(now, state="active")[:1]:
                    store.expire(silence.id, now)
        assert _seen(fast.tick(now)) == _seen(reference.tick(now))
    for _ in range(30):  # let every timer run out
        now += 2.5
        assert _seen(fast.tick(now)) == _seen(reference.tick(now))


def test_an_idle_group_costs_no_flush_per_interval() -> None:
    d = Dispatcher(CONFIG)
    d.ingest(Alert(labels={"alertname": "A", "user": "u1"}, annotations={}, starts_at=T0, ends_at=T0 + 3600,
                   rule="A"), T0)
    assert len(d.tick(T0 + 2)) == 1
    flushes = 0
    original = d._flush

    def counting(*args: Any) -> Any:
        nonlocal flushes
        flushes += 1
        return original(*args)

    d._flush = counting  # type: ignore[method-assign]
    sent = [n for step in range(1, 200) for n in d.tick(T0 + 2 + step * 0.5)]  # 99.5 s of 3 s intervals
    assert [n.reason for n in sent] == ["repeat interval elapsed"] * len(sent) and 3 <= len(sent) <= 5
    assert flushes == len(sent)  # only the ticks that repeat run the notify pipeline, not one per interval
