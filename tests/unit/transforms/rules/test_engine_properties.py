"""Property test of the rule engine: the sliding window count against a naive model."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pipeline.envelope import Envelope, utc_iso
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
