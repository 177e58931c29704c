"""Operator events validate against schemas/operator.v1.json and name the principal."""

from __future__ import annotations

from pipeline.auth import OPERATOR_SCHEMA, Principal, Role, operator_event
from pipeline.schema_registry import validate


def test_operator_event_matches_its_schema() -> None:
    who = Principal("alice", frozenset({Role.OPERATOR, Role.APPROVER}), "bearer")
    env = operator_event(who, "silence.created", "silence", "s-1", detail={"comment": "travel"}, remote="10.0.0.7")
    assert env.schema == OPERATOR_SCHEMA and env.data["user"] == {"name": "alice"}
    assert validate(OPERATOR_SCHEMA, env.to_dict()) == []
    link = operator_event(Principal("approval-link", frozenset(), "approval-link"), "action.approved", "action",
                          "a" * 32, corp_id="wm1")
    assert validate(OPERATOR_SCHEMA, link.to_dict()) == []
    assert operator_event(who, "silence.expired", "silence", "s-1").id != env.id
