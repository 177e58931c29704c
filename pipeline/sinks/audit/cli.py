"""`pipeline audit query|verify`: read the audit store and check its hash chains.

The store is chosen by `--db PATH` (SQLite) or `--dsn` (PostgreSQL: a secret reference env:NAME / file:/path,
or a postgresql:// URL), also from EXMAIL_AUDIT_DB / EXMAIL_AUDIT_DSN.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from pipeline.secrets import SecretResolutionError, resolve_secret, scrub_text
from pipeline.sinks.audit.postgres import PostgresAuditStore
from pipeline.sinks.audit.sqlite import SqliteAuditStore
from pipeline.sinks.audit.store import AuditQuery, AuditRow, AuditStore, AuditStoreError, StoreUnavailable

R = TypeVar("R")
_RELATIVE = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
_TABLE = (("occurred_at", 24), ("corp", 12), ("kind", 22), ("action", 20), ("user", 28), ("source_ip", 15),
          ("outcome", 8), ("id", 32))


class _StoreProblem(click.ClickException):
    exit_code = 3


def parse_time(value: str, *, now: datetime | None = None) -> datetime:
    """"24h", "7d", "30m" (ago), a date (midnight UTC) or an RFC 3339 time (no offset means UTC)."""
    text = value.strip()
    m = _RELATIVE.match(text)
    if m:
        return (now or datetime.now(UTC)) - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(f"{value!r}: use e.g. 24h, 7d, 2026-11-29 or 2026-11-29T08:00:00Z") from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


class _Time(click.ParamType):
    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        return parse_time(str(value))


def _run(open_store: Callable[[], Awaitable[AuditStore]], work: Callable[[AuditStore], Awaitable[R]]) -> R:
    async def main() -> R:
        store = await open_store()
        try:
            return await work(store)
        finally:
            await store.close()

    try:
        return asyncio.run(main())
    except (StoreUnavailable, AuditStoreError, SecretResolutionError) as exc:
        raise _StoreProblem(scrub_text(str(exc))) from None


def _opener(db: Path | None, dsn: str | None, schema: str) -> Callable[[], Awaitable[AuditStore]]:
    if (db is None) == (dsn is None):
        raise click.UsageError("give exactly one of --db (SQLite file) or --dsn (PostgreSQL)")
    if db is not None:
        if not db.exists():
            raise click.BadParameter(f"{db} does not exist", param_hint="--db")
        path = db

        async def open_sqlite() -> AuditStore:
            return await SqliteAuditStore.open(path)

        return open_sqlite
    assert dsn is not None
    ref = dsn

    async def open_postgres() -> AuditStore:
        resolved = resolve_secret(ref) if ref.startswith(("env:", "file:")) else ref
        return await PostgresAuditStore.open(resolved, schema=schema)

    return open_postgres


def _store_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    fn = click.option("--schema", default="public", show_default=True, envvar="EXMAIL_AUDIT_SCHEMA",
                      help="PostgreSQL schema of the audit tables")(fn)
    fn = click.option("--dsn", default=None, envvar="EXMAIL_AUDIT_DSN",
                      help="PostgreSQL: env:NAME, file:/path or a postgresql:// URL")(fn)
    return click.option("--db", type=click.Path(path_type=Path, dir_okay=False), default=None,
                        envvar="EXMAIL_AUDIT_DB", help="SQLite audit database file")(fn)


def _cell(value: str | None, width: int) -> str:
    text = "-" if value is None else value.replace("\n", " ")
    return text if len(text) <= width else text[: width - 1] + "…"


def _table_line(row: AuditRow) -> str:
    values = (row.occurred_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z", row.corp_id, row.kind,
              row.action, row.user, row.source_ip, row.outcome, row.id)
    return "  ".join(_cell(v, w).ljust(w) for v, (_, w) in zip(values, _TABLE, strict=True)).rstrip()


@click.group("audit")
def audit() -> None:
    """Query the audit store and verify its tamper-evident hash chains."""


@audit.command("query")
@_store_options
@click.option("--user", default=None, help="user.email (or user.name) exactly")
@click.option("--kind", default=None, help="event dataset, e.g. exmail.login_log; '*' is a wildcard")
@click.option("--action", default=None, help="event.action exactly")
@click.option("--corp", default=None, help="corp id")
@click.option("--since", type=_Time(), default=None, help="from this time (24h, 7d, 2026-11-29, RFC 3339)")
@click.option("--until", type=_Time(), default=None, help="before this time")
@click.option("--ip", default=None, help="source IP address or CIDR network")
@click.option("--format", "fmt", type=click.Choice(["table", "jsonl"]), default="table", show_default=True)
@click.option("--limit", type=click.IntRange(min=0), default=100, show_default=True, help="0 = no limit")
@click.option("--newest-first", is_flag=True, help="newest records first")
def query_cmd(db: Path | None, dsn: str | None, schema: str, user: str | None, kind: str | None,
              action: str | None, corp: str | None, since: datetime | None, until: datetime | None, ip: str | None,
              fmt: str, limit: int, newest_first: bool) -> None:
    """Print audit records matching the filters, oldest first."""
    try:
        filters = AuditQuery(user=user, kind=kind, action=action, corp_id=corp, since=since, until=until, ip=ip,
                             limit=limit or None, newest_first=newest_first)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    opener = _opener(db, dsn, schema)
    out = sys.stdout

    async def work(store: AuditStore) -> int:
        count = 0
        if fmt == "table":
            out.write("  ".join(name.ljust(w) for name, w in _TABLE).rstrip() + "\n")
        async for row in store.query(filters):
            if fmt == "jsonl":
                out.write(orjson.dumps(row.to_json()).decode() + "\n")
            else:
                out.write(_table_line(row) + "\n")
            count += 1
        return count

    count = _run(opener, work)
    if fmt == "table":
        click.echo(f"({count} records)", err=True)


@audit.command("verify")
@_store_options
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
def verify_cmd(db: Path | None, dsn: str | None, schema: str, fmt: str) -> None:
    """Recompute every hash chain; exit 1 and name the first break if any row was changed or removed."""
    report = _run(_opener(db, dsn, schema), lambda store: store.verify())
    if fmt == "json":
        click.echo(orjson.dumps({
            "ok": report.ok, "chains": report.chains, "rows": report.rows,
            "first_break": None if report.first_break is None else {
                "corp_id": report.first_break.corp_id, "chain_partition": report.first_break.chain_partition,
                "seq": report.first_break.seq, "id": report.first_break.id, "reason": report.first_break.reason},
            "breaks": len(report.breaks),
            "heads": [{"corp_id": h.corp_id, "chain_partition": h.chain_partition, "seq": h.seq,
                       "head_hash": h.head_hash} for h in report.heads],
        }).decode())
    elif report.ok:
        click.echo(f"OK: {report.chains} chains, {report.rows} rows verified")
    else:
        click.echo(f"BROKEN: {len(report.breaks)} of {report.chains} chains, {report.rows} rows read")
        click.echo(f"first break: {report.first_break}")
        for brk in report.breaks[1:]:
            click.echo(f"also broken: {brk}")
    if not report.ok:
        sys.exit(1)
