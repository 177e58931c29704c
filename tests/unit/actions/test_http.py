"""The actions HTTP API: approval links, listing, undo, the approver role and the identity it records."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from pipeline.actions import (
    LedgerState,
    create_actions_app,
)
from pipeline.auth import MemoryOperatorLog

DOMAIN = "corp.example.com"
SECRET = "approval-secret-0123456789abcdef"


async def _client(service, api_tokens, audit=None) -> TestClient:
    outer = web.Application()
    outer.add_subapp("/actions", create_actions_app(service, audit))
    client = TestClient(TestServer(api_tokens.secure(outer)))
    await client.start_server()
    return client


async def test_http_api_approve_link_list_and_undo(harness, api_tokens):
    service, entry = await harness.awaiting_approval()
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
