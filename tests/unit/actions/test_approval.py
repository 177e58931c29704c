"""Approvals: signed tokens (valid, tampered, expired, other action), the approval flow, the HTTP API and the
`pipeline actions` CLI against it."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlparse

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from click.testing import CliRunner

from pipeline.auth import MemoryOperatorLog
from pipeline.transforms.actions import (
    ActionStateError,
    ApprovalError,
    ApprovalSigner,
    LedgerState,
    create_actions_app,
)
from pipeline.transforms.actions.cli import actions as actions_cli

DOMAIN = "corp.example.com"
SECRET = "approval-secret-0123456789abcdef"


def test_token_round_trip_and_refusals():
    signer = ApprovalSigner(SECRET)
    token = signer.token("a" * 32, 2000.0)
    assert signer.verify("a" * 32, token, 1999.0) == 2000
    with pytest.raises(ApprovalError, match="expired"):
        signer.verify("a" * 32, token, 2000.5)
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("b" * 32, token, 1000.0)
    exp, mac = token.split(".")
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("a" * 32, f"{int(exp) + 3600}.{mac}", 1000.0)
    tampered = mac[:-1] + ("A" if mac[-1] != "A" else "B")
    with pytest.raises(ApprovalError, match="not valid"):
        signer.verify("a" * 32, f"{exp}.{tampered}", 1000.0)
    with pytest.raises(ApprovalError, match="malformed"):
        signer.verify("a" * 32, "garbage", 1000.0)
    with pytest.raises(ApprovalError, match="not valid"):
        ApprovalSigner("another-secret-0123456789").verify("a" * 32, token, 1000.0)
    with pytest.raises(ValueError):
        ApprovalSigner("short")


async def _awaiting(harness, target: str = f"user1@{DOMAIN}"):
    service = harness.service()
    entry = await service.handle_alert(harness.alert("needs_approval", target))
    return service, entry


async def test_approval_required_waits_then_runs_after_approval(harness):
    service, entry = await _awaiting(harness)
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
    service, entry = await _awaiting(harness)
    _, other = await _awaiting(harness, f"user2@{DOMAIN}")
    with pytest.raises(ApprovalError):
        await service.approve(entry.id, by="x", token=service.approval_token(other))
    harness.clock.advance(3601)
    with pytest.raises(ApprovalError, match="expired"):
        await service.approve(entry.id, by="x", token=service.approval_token(entry))
    assert harness.fake.writes == []


async def test_pending_approval_expires(harness):
    service, entry = await _awaiting(harness)
    assert [e.id for e in await service.list_actions("approvals")] == [entry.id]
    harness.clock.advance(3601)
    [expired] = await service.run_due()
    assert expired.state is LedgerState.SKIPPED and "expired" in expired.detail
    with pytest.raises(ActionStateError):
        await service.approve(entry.id, by="late")
    assert harness.fake.writes == []


async def test_reject(harness):
    service, entry = await _awaiting(harness)
    rejected = await service.reject(entry.id, by="carol", reason="expected travel")
    assert rejected.state is LedgerState.SKIPPED and "rejected by carol" in rejected.detail
    assert harness.fake.writes == []


async def test_pending_approval_survives_a_restart(harness):
    _, entry = await _awaiting(harness)
    restarted = harness.service()
    assert await restarted.run_due() == []
    done = await restarted.approve(entry.id, by="ops")
    assert done.state is LedgerState.DONE


async def _client(service, api_tokens, audit=None) -> TestClient:
    outer = web.Application()
    outer.add_subapp("/actions", create_actions_app(service, audit))
    client = TestClient(TestServer(api_tokens.secure(outer)))
    await client.start_server()
    return client


async def test_http_api_approve_link_list_and_undo(harness, api_tokens):
    service, entry = await _awaiting(harness)
    token = service.approval_token(entry)
    audit = MemoryOperatorLog()
    client = await _client(service, api_tokens, audit)
    viewer, operator = api_tokens.headers("viewer"), api_tokens.headers("operator")
    try:
        assert (await client.get("/actions/api/actions?state=approvals")).status == 401
        listing = await (await client.get("/actions/api/actions?state=approvals", headers=viewer)).json()
        assert [a["id"] for a in listing["actions"]] == [entry.id]
        page = await client.get(f"/actions/api/actions/{entry.id}/approve", params={"token": token})
        text = await page.text()
        assert page.status == 200 and "Approve" in text and "user/update" in text
        assert harness.fake.writes == [], "opening the link must not approve"
        bad = await client.get(f"/actions/api/actions/{entry.id}/approve", params={"token": token + "x"})
        assert bad.status == 403
        form = await client.post(
            f"/actions/api/actions/{entry.id}/approve", data={"token": token, "by": "dave"}
        )
        assert form.status == 200 and "done" in await form.text()
        assert harness.fake.users[f"user1@{DOMAIN}"]["enable"] == 0
        undo_path = f"/actions/api/actions/{entry.id}/undo"
        assert (await client.post(undo_path, json={"reason": "ok"}, headers=viewer)).status == 403
        undo = await client.post(undo_path, json={"by": "dave", "reason": "ok"}, headers=operator)
        assert undo.status == 200 and (await undo.json())["state"] == "undone"
        assert (await client.post(f"/actions/api/actions/{'0' * 32}/undo", json={}, headers=operator)).status == 404
        detail = await (await client.get(f"/actions/api/actions/{entry.id}", headers=viewer)).json()
        assert detail["state"] == "undone" and detail["calls"]
        # the recorded identities: the link (not "dave" from the form), then the operator's principal
        done = await service.get(entry.id)
        assert done.approval.approved_by == "approval-link"  # not "dave" from the form
        assert done.undo is not None and done.undo.requested_by == "operator-user"  # not "dave" from the body
        events = [(e.data["event"]["action"], e.data["user"]["name"]) for e in audit.events]
        assert events == [("action.approved", "approval-link"), ("action.undone", "operator-user")]
    finally:
        await client.close()


async def test_http_api_approver_role_and_recorded_identity(harness, api_tokens):
    service = harness.service()
    entry = await service.handle_alert(harness.alert("needs_approval", f"user3@{DOMAIN}"))
    audit = MemoryOperatorLog()
    client = await _client(service, api_tokens, audit)
    approve = f"/actions/api/actions/{entry.id}/approve"
    try:
        assert (await client.get("/actions/api/actions")).status == 401
        assert (await client.post(approve, json={"by": "x"})).status == 401
        wrong = await client.post(approve, json={"by": "x"}, headers=api_tokens.headers("operator"))
        assert wrong.status == 403
        bad = await client.post(approve, json={}, headers={"Authorization": "Bearer not-a-token-at-all-123456"})
        assert bad.status == 401
        assert (await service.get(entry.id)).state is LedgerState.AWAITING_APPROVAL
        approved = await client.post(approve, json={"by": "forged-name"}, headers=api_tokens.headers("approver"))
        body = await approved.json()
        assert approved.status == 200 and body["state"] == "done"
        assert (await service.get(entry.id)).approval.approved_by == "approver-user"  # never the body's name
        conflict = await client.post(f"/actions/api/actions/{entry.id}/reject", json={"by": "x"},
                                     headers=api_tokens.headers("admin"))
        assert conflict.status == 409
        assert [(e.data["event"]["action"], e.data["user"]["name"]) for e in audit.events] == [
            ("action.approved", "approver-user")]
    finally:
        await client.close()


async def test_cli_list_approve_undo(harness, api_tokens):
    service, entry = await _awaiting(harness)
    outer = web.Application()
    outer.add_subapp("/actions", create_actions_app(service))
    runner = web.AppRunner(api_tokens.secure(outer))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    url = f"http://127.0.0.1:{port}/actions"
    cli = CliRunner()
    try:
        refused = await asyncio.to_thread(cli.invoke, actions_cli, ["list", "--url", url])
        assert refused.exit_code != 0 and "HTTP 401" in refused.output
        listed = await asyncio.to_thread(cli.invoke, actions_cli, ["list", "--url", url, "--api-token",
                                                                   api_tokens.tokens["viewer"]])
        assert listed.exit_code == 0 and entry.id in listed.output and "awaiting_approval" in listed.output
        approved = await asyncio.to_thread(
            cli.invoke, actions_cli, ["approve", entry.id, "--url", url, "--api-token", api_tokens.tokens["approver"]]
        )
        assert approved.exit_code == 0, approved.output
        assert "done" in approved.output and harness.fake.users[f"user1@{DOMAIN}"]["enable"] == 0
        recent = await asyncio.to_thread(cli.invoke, actions_cli, ["list", "--state", "recent", "--url", url,
                                                                   "--api-token", api_tokens.tokens["viewer"]])
        assert entry.id in recent.output
        undone = await asyncio.to_thread(
            cli.invoke, actions_cli, ["undo", entry.id, "--url", url, "-r", "oops", "--api-token",
                                      api_tokens.tokens["operator"]]
        )
        assert undone.exit_code == 0 and "undone" in undone.output
        assert harness.fake.users[f"user1@{DOMAIN}"]["enable"] == 1
        again = await asyncio.to_thread(cli.invoke, actions_cli, ["approve", "f" * 32, "--url", url, "--api-token",
                                                                  api_tokens.tokens["admin"]])
        assert again.exit_code != 0 and "HTTP 404" in again.output
    finally:
        await runner.cleanup()
