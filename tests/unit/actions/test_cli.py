"""`pipeline actions` against the HTTP API: list, approve, undo."""

from __future__ import annotations

import asyncio

from aiohttp import web
from click.testing import CliRunner

from pipeline.actions import (
    create_actions_app,
)
from pipeline.actions.cli import actions as actions_cli

DOMAIN = "corp.example.com"
SECRET = "approval-secret-0123456789abcdef"


async def test_cli_list_approve_undo(harness, api_tokens):
    service, entry = await harness.awaiting_approval()
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
