"""A gateway login record is an exmail.action/1 the audit store indexes by action, user, outcome and source IP."""

from __future__ import annotations

from pipeline.sinks.audit._rows import prepare
from pipeline.sso_gateway._audit import LoginAttempt, login_record


def test_login_record_becomes_an_indexed_audit_row() -> None:
    attempt = LoginAttempt(ref="r1", method="oidc", at=1_800_000_000.0, client_ip="203.0.113.7",
                           requested_box="service@example.com", login="bob@example.com", groups=("sales",))
    key, envelope = login_record("wm1", attempt, allowed=False, reason="not_in_group", detail="no group")
    row = prepare(envelope)
    assert (row.kind, row.action, row.user, row.outcome, row.source_ip) == (
        "exmail.actions", "sso_login", "service@example.com", "failure", "203.0.113.7")
    assert key == b"wm1/service@example.com"
    again = login_record("wm1", attempt, allowed=False, reason="not_in_group", detail="no group")[1]
    assert again.id == envelope.id  # a re-sent record is stored once
    other = LoginAttempt(ref="r2", method="oidc", at=1_800_000_000.0, client_ip=None)
    assert login_record("wm1", other, allowed=False, reason="forged_state", detail=None)[1].id != envelope.id
