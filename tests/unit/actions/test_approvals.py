"""The approval flow of the service: wait, approve, wrong or expired token, expiry, reject, restart."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from pipeline.actions import (
    ActionStateError,
    ApprovalError,
    LedgerState,
)

DOMAIN = "corp.example.com"
SECRET = "approval-secret-0123456789abcdef"


async def test_approval_required_waits_then_runs_after_approval(harness):
    service, entry = await harness.awaiting_approval()
    assert entry.state is LedgerState.AWAITING_APPROVAL and harness.fake.writes == []
    assert [c.outcome for c in entry.calls if c.kind == "write"] == ["planned"]
    alert = harness.output.alerts[-1].data
    assert alert["labels"]["alertname"] == "action_approval_required"
    assert alert["annotations"]["approve_command"] == f"pipeline actions approve {entry.id}"
    link = urlparse(alert["annotations"]["approve_url"])
    assert link.path == f"/actions/api/actions/{entry.id}/approve"
    token = parse_qs(link.query)["token"][0]
    # the token is in the alert for the approver, never in the action record
    assert all(token not in str(r.to_dict()) for r in harness.output.records)

    done = await service.approve(entry.id, by="approval-link", token=token)
    assert done.state is LedgerState.DONE and harness.fake.users[f"user1@{DOMAIN}"]["enable"] == 0
    assert done.approval.approved_by == "approval-link"
    assert [c.outcome for c in done.calls if c.kind == "write"] == ["ok"]
    assert harness.statuses(entry.id) == ["requested", "awaiting_approval", "executed"]
    again = await service.approve(entry.id, by="someone", token=token)
    assert again.state is LedgerState.DONE and len(harness.fake.writes) == 1


async def test_wrong_or_expired_token_does_not_approve(harness):
    service, entry = await harness.awaiting_approval()
    _, other = await harness.awaiting_approval(f"user2@{DOMAIN}")
    with pytest.raises(ApprovalError):
        await service.approve(entry.id, by="x", token=service.approval_token(other))
    harness.clock.advance(3601)
    with pytest.raises(ApprovalError, match="expired"):
        await service.approve(entry.id, by="x", token=service.approval_token(entry))
    assert harness.fake.writes == []


async def test_pending_approval_expires(harness):
    service, entry = await harness.awaiting_approval()
    assert [e.id for e in await service.list_actions("approvals")] == [entry.id]
    harness.clock.advance(3601)
    [expired] = await service.run_due()
    assert expired.state is LedgerState.SKIPPED and "expired" in expired.detail
    with pytest.raises(ActionStateError):
        await service.approve(entry.id, by="late")
    assert harness.fake.writes == []


async def test_reject(harness):
    service, entry = await harness.awaiting_approval()
    rejected = await service.reject(entry.id, by="carol", reason="expected travel")
    assert rejected.state is LedgerState.SKIPPED and "rejected by carol" in rejected.detail
    assert harness.fake.writes == []


async def test_pending_approval_survives_a_restart(harness):
    _, entry = await harness.awaiting_approval()
    restarted = harness.service()
    assert await restarted.run_due() == []
    done = await restarted.approve(entry.id, by="ops")
    assert done.state is LedgerState.DONE


