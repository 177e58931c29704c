"""The Audit page over the audit store's own query and verify (pipeline/sinks/audit): filters from the form,
a free-text match, pages, and the CSV / JSON-lines export of a whole result."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import click
import orjson

from pipeline.sinks.audit.cli import parse_time  # the CLI's time syntax: 24h, 7d, a date, RFC 3339
from pipeline.sinks.audit.store import AuditQuery, AuditRow, AuditStore

EXPORT_MAX_ROWS = 100_000
CSV_COLUMNS = ("occurred_at", "corp_id", "kind", "action", "user", "source_ip", "outcome", "id", "message")
FORM_FIELDS = ("since", "until", "user", "kind", "action", "ip", "q")


class SearchError(ValueError):
    """A form field the person must fix; the message names it."""


@dataclass(frozen=True, slots=True)
class AuditSearch:
    query: AuditQuery
    text: str = ""
    page: int = 0
    page_size: int = 50

    def matches(self, row: AuditRow) -> bool:
        """Free text: case-insensitive, over the message and every other field of the stored document."""
        if not self.text:
            return True
        return self.text.casefold() in orjson.dumps(row.envelope.get("data", row.envelope)).decode().casefold()


def parse_search(params: Mapping[str, str], page_size: int) -> AuditSearch:
    values = {k: (params.get(k) or "").strip() for k in FORM_FIELDS}
    times: dict[str, datetime | None] = {"since": None, "until": None}
    for name in times:
        if values[name]:
            try:
                times[name] = parse_time(values[name])
            except click.BadParameter as exc:
                raise SearchError(f"{name}: {exc.message}") from None
    try:
        query = AuditQuery(user=values["user"] or None, kind=values["kind"] or None,
                           action=values["action"] or None, ip=values["ip"] or None, newest_first=True,
                           since=times["since"], until=times["until"])
        page = max(0, int(params.get("page") or 0))
    except ValueError as exc:
        raise SearchError(str(exc)) from None
    return AuditSearch(query, values["q"], page, page_size)


async def _matching(store: AuditStore, search: AuditSearch, limit: int | None) -> AsyncIterator[AuditRow]:
    # without free text the store applies the limit; with it the store streams and this filters
    query = replace(search.query, limit=None if search.text else limit)
    seen = 0
    async for row in store.query(query):
        if search.matches(row):
            yield row
            seen += 1
            if limit is not None and seen >= limit:
                return


async def search_page(store: AuditStore, search: AuditSearch) -> tuple[list[AuditRow], bool]:
    """This page's rows (newest first) and whether another page follows."""
    skip = search.page * search.page_size
    rows: list[AuditRow] = []
    async for row in _matching(store, search, skip + search.page_size + 1):
        if skip:
            skip -= 1
            continue
        rows.append(row)
    more = len(rows) > search.page_size
    return rows[: search.page_size], more


def message_of(row: AuditRow) -> str:
    data = row.envelope.get("data")
    message = data.get("message") if isinstance(data, dict) else None
    return message if isinstance(message, str) else ""


def _cell(value: str) -> str:
    """A spreadsheet would run a cell starting with = + - @ as a formula (CSV injection): quote it."""
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


async def export(store: AuditStore, search: AuditSearch, fmt: str) -> AsyncIterator[bytes]:
    """The whole result (up to EXPORT_MAX_ROWS) as CSV with a header row, or one JSON document per line."""
    if fmt == "csv":
        buf = io.StringIO()
        writer = csv.writer(buf)
        writer.writerow(CSV_COLUMNS)
        yield buf.getvalue().encode()
    async for row in _matching(store, search, EXPORT_MAX_ROWS):
        if fmt == "jsonl":
            yield orjson.dumps(row.to_json()) + b"\n"
            continue
        buf = io.StringIO()
        csv.writer(buf).writerow([_cell(v) for v in (
            row.occurred_at.isoformat(), row.corp_id, row.kind, row.action or "", row.user or "",
            row.source_ip or "", row.outcome or "", row.id, message_of(row))])
        yield buf.getvalue().encode()
