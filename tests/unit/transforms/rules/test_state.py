"""pipeline/transforms/rules/state.py: TableRuleState over the rules agent's table, and what a store failure is."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipeline.envelope import Envelope
from pipeline.transforms.rules import (
    RuleEngine,
    RuleEvaluationError,
    RuleStateUnavailable,
    TableRuleState,
    load_default_rules,
)

T0 = 1_780_000_000.0


class BrokenTable(dict[bytes, bytes]):
    """A table whose writes fail, as a faust table does when its changelog topic is missing."""

    def __setitem__(self, key: bytes, value: bytes) -> None:
        raise RuntimeError("UNKNOWN_TOPIC_OR_PART: exmail-pipeline-alerting-rules-changelog")


def test_table_state_round_trips_json_by_string_key() -> None:
    table: dict[bytes, bytes] = {}
    state = TableRuleState(table)
    state.put("r/x/1", {"n": [1, 2]})
    state.put("other", 3)
    assert table[b"r/x/1"] == b'{"n":[1,2]}'
    assert state.get("r/x/1") == {"n": [1, 2]} and state.get("missing") is None
    assert dict(state.items("r/")) == {"r/x/1": {"n": [1, 2]}}
    state.delete("r/x/1")
    assert state.get("r/x/1") is None


def test_a_store_that_cannot_be_written_is_not_the_events_fault(make_event: Callable[..., Envelope]) -> None:
    """The engine lets RuleStateUnavailable through (the agent retries the event) instead of wrapping it in
    RuleEvaluationError (which the agent dead-letters)."""
    engine = RuleEngine(load_default_rules({}), TableRuleState(BrokenTable()))
    login: Any = make_event("exmail.login_log", {
        "event": {"category": ["authentication"], "outcome": "success"}, "user": {"email": "u@acme.com"},
        "source": {"ip": "203.0.113.9"}, "exmail": {"login": {"type": 1, "type_name": "web", "ip": "203.0.113.9"}}},
        t=T0)
    with pytest.raises(RuleStateUnavailable, match="changelog") as info:
        engine.evaluate(login, now=T0)
    assert not isinstance(info.value, RuleEvaluationError)
