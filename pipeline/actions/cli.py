"""`pipeline actions list|show|approve|reject|undo`: a thin client of the actions HTTP API (see http.py)."""

from __future__ import annotations

from typing import Any

import click
import orjson

from pipeline.auth.client import call_api

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "EXMAIL_ACTIONS_URL"
TOKEN_ENV = "EXMAIL_API_TOKEN"

_url_option = click.option(
    "--url",
    envvar=URL_ENV,
    default=DEFAULT_URL,
    show_default=True,
    help=f"base URL the actions API is mounted at (env {URL_ENV})",
)
_token_option = click.option(
    "--api-token",
    envvar=TOKEN_ENV,
    default=None,
    show_default=False,
    help=f"your bearer token (env {TOKEN_ENV}); the API records its principal as who acted",
)


@click.group("actions")
def actions() -> None:
    """List, approve, reject and undo automated account actions."""


@actions.command("list")
@click.option(
    "--state",
    type=click.Choice(["pending", "approvals", "recent"]),
    default="pending",
    show_default=True,
    help="pending = approvals, scheduled and interrupted work",
)
@click.option("--limit", default=50, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@_url_option
@_token_option
def list_cmd(state: str, limit: int, as_json: bool, url: str, api_token: str | None) -> None:
    """List pending approvals and scheduled work, or recent actions."""
    answer = _call("GET", url, f"/api/actions?state={state}&limit={limit}", api_token)
    rows = answer.get("actions", [])
    if as_json:
        click.echo(orjson.dumps(rows, option=orjson.OPT_INDENT_2).decode())
        return
    if not rows:
        click.echo("no actions")
        return
    for a in rows:
        due = f" due {a['due_at']}" if a.get("due_at") else ""
        note = a.get("error") or a.get("detail") or ""
        flag = " [dry-run]" if a.get("dry_run") else ""
        click.echo(f"{a['id']}  {a['state']:<17} {a['kind']:<18} {a['target']}{flag}{due}  {note}")


@actions.command("show")
@click.argument("action_id")
@_url_option
@_token_option
def show_cmd(action_id: str, url: str, api_token: str | None) -> None:
    """Show one action with the calls it made."""
    click.echo(
        orjson.dumps(
            _call("GET", url, f"/api/actions/{action_id}", api_token), option=orjson.OPT_INDENT_2
        ).decode()
    )


@actions.command("approve")
@click.argument("action_id")
@click.option("--token", default=None, help="an approval token from a link, instead of an approver token")
@_url_option
@_token_option
def approve_cmd(action_id: str, token: str | None, url: str, api_token: str | None) -> None:
    """Approve a pending action (approver role); it runs at once."""
    body: dict[str, Any] = {}
    if token:
        body["token"] = token
    _report(_call("POST", url, f"/api/actions/{action_id}/approve", api_token, body))


@actions.command("reject")
@click.argument("action_id")
@click.option("-r", "--reason", default="", help="why")
@_url_option
@_token_option
def reject_cmd(action_id: str, reason: str, url: str, api_token: str | None) -> None:
    """Reject a pending action (approver role)."""
    _report(_call("POST", url, f"/api/actions/{action_id}/reject", api_token, {"reason": reason}))


@actions.command("undo")
@click.argument("action_id")
@click.option("-r", "--reason", default="", help="why")
@_url_option
@_token_option
def undo_cmd(action_id: str, reason: str, url: str, api_token: str | None) -> None:
    """(operator role) Reverse an executed action (enable the account again, restore options, groups, department)."""
    _report(_call("POST", url, f"/api/actions/{action_id}/undo", api_token, {"reason": reason}))


def _report(entry: dict[str, Any]) -> None:
    note = entry.get("error") or entry.get("detail") or ""
    click.echo(f"{entry['id']} {entry['kind']} {entry['target']}: {entry['state']} {note}".rstrip())


def _call(method: str, base: str, path: str, api_token: str | None, body: dict[str, Any] | None = None) -> Any:
    return call_api(method, base, path, api_token, body, api="the actions API", timeout=60.0)
