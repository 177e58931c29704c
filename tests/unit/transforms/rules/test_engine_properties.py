"""Property tests: the sliding window against a naive model, matcher text round trips, silence time precision."""

from __future__ import annotations

import re
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.envelope import Envelope, utc_iso
from pipeline.transforms.routing import SilenceStore
from pipeline.transforms.routing.matchers import Matcher, matchers_string, parse_matchers
from pipeline.transforms.rules import MemoryRuleState, RuleEngine, parse_rules

T0 = 1_800_000_000.0
WIDTH, BUCKETS = 10.0, 60  # window 10m in 60 buckets


def event(t: float, i: int) -> Envelope:
    return Envelope(schema="exmail.event/1", id=f"e{i}", corp_id="c1", source="test", occurred_at=utc_iso(t),
                    observed_at=utc_iso(t), data={"event": {"dataset": "exmail.mail_log"},
                                                  "user": {"email": "u@acme.com"}})


@settings(max_examples=60, deadline=None, database=None)
@given(st.lists(st.integers(min_value=0, max_value=3 * 3600), min_size=1, max_size=80))
def test_window_count_matches_naive_model(offsets: list[int]) -> None:
    """After every event (in any arrival order) the stored window holds exactly the accepted events whose bucket
    is within the last 60 buckets of the newest bucket seen; events older than that window are not accepted."""
    state = MemoryRuleState(json_roundtrip=True)
    engine = RuleEngine(parse_rules({"rules": [{"name": "w", "type": "count", "window": "10m",
                                                "threshold": 10_000,
                                                "match": [{"field": "event.dataset", "eq": "exmail.mail_log"}]}]}),
                        state)
    accepted: list[int] = []
    newest: int | None = None
    for i, off in enumerate(offsets):
        t = T0 + off
        bucket = int(t // WIDTH)
        engine.evaluate(event(t, i), now=t)
        if newest is None or bucket >= newest - BUCKETS + 1:
            accepted.append(bucket)
            newest = bucket if newest is None else max(newest, bucket)
        assert newest is not None
        expected = sum(1 for b in accepted if b >= newest - BUCKETS + 1)
        stored: dict[str, Any] = state.get("r/w/c1/u@acme.com") or {}
        assert sum(n for _, n in stored.get("b", [])) == expected
        assert len(stored.get("b", [])) <= BUCKETS


label_names = st.from_regex(r"[a-zA-Z_][a-zA-Z0-9_]{0,12}", fullmatch=True)
values = st.text(max_size=20)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(st.tuples(label_names, st.sampled_from(["=", "!=", "=~", "!~"]), values), min_size=1, max_size=4))
def test_matcher_text_round_trips(specs: list[tuple[str, str, str]]) -> None:
    """str(matcher) is valid matcher syntax that parses back to the same matcher (quoting and escapes)."""
    matchers = [Matcher.create(name, op, re.escape(value) if "~" in op else value) for name, op, value in specs]
    for m in matchers:
        assert parse_matchers(str(m)) == [m]
    assert parse_matchers(matchers_string(matchers)) == matchers


@settings(max_examples=100, deadline=None, database=None)
@given(st.floats(min_value=T0, max_value=T0 + 86400, allow_nan=False), st.floats(min_value=0.0, max_value=3600))
def test_silence_times_survive_the_wire_and_expiry_is_never_late(created: float, later: float) -> None:
    clock = [created]
    store = SilenceStore(clock=lambda: clock[0])
    sil, _ = store.set({"matchers": ['a="1"'], "duration": "2h", "created_by": "t", "comment": "c"})
    assert sil.state(created) == "active"
    clock[0] = created + later
    expired, _ = store.expire(sil.id)
    assert expired.state(clock[0]) == "expired"
    replica = SilenceStore()
    replica.load(store.snapshot())
    assert replica.get(sil.id) == store.get(sil.id)
