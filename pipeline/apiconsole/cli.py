"""`pipeline api list|call`: the console's CLI (parsing and printing only; the logic is in _console.py)."""

from __future__ import annotations

import asyncio
import sys

import click
import orjson

from pipeline.apiconsole._console import CallResult, ConsoleError, call, catalog, endpoint, parse_params
from pipeline.exmail import App
from pipeline.tenant import TenantError, load_tenant


def _json(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS).decode()


@click.group("api")
def api() -> None:
    """Explore and call the Exmail API (every endpoint the client knows)."""


@api.command("list")
@click.argument("endpoints", nargs=-1)
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def list_cmd(endpoints: tuple[str, ...], as_json: bool) -> None:
    """Every endpoint with its app, method and parameters (or only the named ones)."""
    try:
        wanted = {endpoint(e).path for e in endpoints}
    except ConsoleError as exc:
        raise click.UsageError(str(exc)) from None
    rows = [info for info in catalog() if not wanted or info.path in wanted]
    if as_json:
        click.echo(_json([r.to_dict() for r in rows]))
        return
    for info in rows:
        params = " ".join(f"{p.name}{'' if p.required else '?'}:{p.type}" for p in info.params) or "-"
        click.echo(f"{info.path:<24} {info.method:<4} {info.app:<17} {info.doc:<14} {params}")
        if wanted:
            for p in info.params:
                need = "required" if p.required else "optional"
                click.echo(f"    {p.name:<16} {p.type:<8} {need:<9} {p.where:<6} {p.doc}")
    if not wanted:
        click.echo("(? = optional; `pipeline api list ENDPOINT` explains the parameters)", err=True)


def _print(result: CallResult) -> None:
    click.echo(f"> {result.method} {result.url}   [app {result.app}]")
    if result.body is not None:
        click.echo(_json(result.body))
    status = "ok" if result.ok else (f"errcode {result.errcode}" if result.errcode is not None else "failed")
    click.echo(f"< {status} in {result.elapsed_ms:.1f} ms")
    if result.response is not None:
        click.echo(_json(result.response))
    if result.error:
        click.echo(f"error: {result.error}")
    if result.meaning:
        click.echo(f"meaning: {result.meaning}")
    if result.hint:
        click.echo(f"fix: {result.hint}")


@api.command("call")
@click.argument("endpoint_path", metavar="ENDPOINT")
@click.argument("params", nargs=-1, metavar="KEY=VALUE...")
@click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False), help="ingest config")
@click.option("--sim-credentials", type=click.Path(exists=True, dir_okay=False),
              help="a running simulator's credentials JSON")
@click.option("--corp", default=None, help="corp name or corp_id when the config holds several")
@click.option("--app", type=click.Choice([a.value for a in App]), default=None,
              help="use this app's token instead of the endpoint's own (e.g. to see 602005)")
@click.option("--no-check", is_flag=True, help="send unknown or incomplete parameters as given")
@click.option("--json", "as_json", is_flag=True, help="print the structured result as JSON")
def call_cmd(endpoint_path: str, params: tuple[str, ...], config_path: str | None, sim_credentials: str | None,
             corp: str | None, app: str | None, no_check: bool, as_json: bool) -> None:
    """Call ENDPOINT with KEY=VALUE parameters (lists: a,b or JSON; KEY:=JSON for raw JSON).

    Prints the request and the answer (secrets masked), the time taken and, on an error, the errcode's
    meaning and a fix hint. Exit status 1 when the API refused the call."""
    try:
        ep = endpoint(endpoint_path)
        typed = parse_params(ep, params, check=not no_check)
        tenant = load_tenant(config_path, sim_credentials, corp)
    except (ConsoleError, TenantError) as exc:
        raise click.UsageError(str(exc)) from None

    async def run() -> CallResult:
        async with tenant.client() as client:
            return await call(client, ep.path, typed, app=app)

    result = asyncio.run(run())
    if as_json:
        click.echo(_json(result.to_dict()))
    else:
        _print(result)
    sys.exit(0 if result.ok else 1)
