"""`pipeline silence add|list|expire`: a thin client of the silences HTTP API (see http.py)."""

from __future__ import annotations

from typing import Any

import click
import orjson

from pipeline.auth.client import call_api

DEFAULT_URL = "http://127.0.0.1:8080"
URL_ENV = "EXMAIL_SILENCES_URL"
TOKEN_ENV = "EXMAIL_API_TOKEN"

_url_option = click.option("--url", envvar=URL_ENV, default=DEFAULT_URL, show_default=True,
                           help=f"base URL the silences API is mounted at (env {URL_ENV})")
_token_option = click.option("--api-token", envvar=TOKEN_ENV, default=None,
                             help=f"your bearer token (env {TOKEN_ENV}): viewer to list, operator to add/expire; "
                                  "the silence records its principal as created_by")


@click.group("silence")
def silence() -> None:
    """Create, list and expire alert silences."""


@silence.command("add")
@click.argument("matchers", nargs=-1, required=True)
@click.option("-c", "--comment", required=True, help="why (required)")
@click.option("-d", "--duration", default="1h", show_default=True, help="e.g. 30m, 2h, 1d (ignored with --end)")
@click.option("--start", default=None, help="RFC 3339 start (default now)")
@click.option("--end", default=None, help="RFC 3339 end")
@_url_option
@_token_option
def add_cmd(matchers: tuple[str, ...], comment: str, duration: str, start: str | None,
            end: str | None, url: str, api_token: str | None) -> None:
    """Silence alerts that match every MATCHER.

    Matchers use Alertmanager syntax: 'alertname="login_new_ip"' 'user=~".*@example.com"' 'corp!="c2"'.
    """
    body: dict[str, Any] = {"matchers": list(matchers), "comment": comment}
    if start:
        body["starts_at"] = start
    if end:
        body["ends_at"] = end
    else:
        body["duration"] = duration
    answer = _call("POST", url, "/api/silences", api_token, body)
    click.echo(answer["silence_id"])


@silence.command("list")
@click.option("--state", type=click.Choice(["active", "pending", "expired", "all"]), default="active",
              show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the API's JSON")
@_url_option
@_token_option
def list_cmd(state: str, as_json: bool, url: str, api_token: str | None) -> None:
    """List silences."""
    path = "/api/silences" if state == "all" else f"/api/silences?state={state}"
    silences = _call("GET", url, path, api_token)
    if as_json:
        click.echo(orjson.dumps(silences, option=orjson.OPT_INDENT_2).decode())
        return
    if not silences:
        click.echo("no silences")
        return
    for s in silences:
        matchers = ", ".join(_matcher_text(m) for m in s["matchers"])
        click.echo(f"{s['id']}  {s['status']['state']:<8} {s['starts_at']} .. {s['ends_at']}  "
                   f"{{{matchers}}}  by {s['created_by']}: {s['comment']}")


@silence.command("expire")
@click.argument("ids", nargs=-1, required=True)
@_url_option
@_token_option
def expire_cmd(ids: tuple[str, ...], url: str, api_token: str | None) -> None:
    """Expire silences now."""
    for sid in ids:
        answer = _call("DELETE", url, f"/api/silences/{sid}", api_token)
        click.echo(f"{answer['silence_id']} {answer['state']}")


def _call(method: str, base: str, path: str, api_token: str | None, body: dict[str, Any] | None = None) -> Any:
    return call_api(method, base, path, api_token, body, api="the silences API")


def _matcher_text(m: dict[str, Any]) -> str:
    op = ("=~" if m.get("isEqual", True) else "!~") if m.get("isRegex") else ("=" if m.get("isEqual", True) else "!=")
    return f'{m["name"]}{op}"{m["value"]}"'
