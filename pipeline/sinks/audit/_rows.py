"""Turning envelopes into audit rows, and the hash chain over them (shared by both backends).

Index columns are read defensively from the ECS document in `data`: a missing or odd-typed field gives NULL,
never an error, and the whole envelope is stored anyway. Column values are cleaned so no input can poison a
batch: NUL characters are replaced, lengths are capped (index entries stay small), IPs are canonicalised.

Chain: every row carries `prev_hash` and `row_hash = sha256(prev_hash_bytes || canonical_content)`, where
the canonical content is a JSON array of every stored column (chain key and sequence included), so editing
any column, deleting a row, or inserting one breaks the recomputation. Chains are keyed by (corp_id, stream
partition) with a sequence number from 1; the first row links to GENESIS.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from pipeline.envelope import Envelope, parse_iso
from pipeline.sinks.audit.store import ChainBreak, ChainHead, RejectedRecord, VerifyReport

GENESIS = "0" * 64
ROW_FORMAT = "exmail.audit.row/1"
MAX_COLUMN_CHARS = 256
MAX_ID_CHARS = 200
# Months outside this range go to the default partition instead of creating a partition per garbage year.
MIN_PARTITION_YEAR = 1970
MAX_PARTITION_YEAR = 2199


@dataclass(slots=True, frozen=True)
class PreparedRow:
    """A record ready to insert, before it gets its place in a chain."""

    id: str
    corp_id: str
    occurred_at: datetime
    schema: str
    kind: str
    action: str | None
    user: str | None
    source_ip: str | None
    outcome: str | None
    source: str
    record: str
    occurred_text: str  # occurred_text(occurred_at), computed once (hash input and SQLite column)

    @property
    def month(self) -> tuple[int, int]:
        return (self.occurred_at.year, self.occurred_at.month)


@dataclass(slots=True, frozen=True)
class ChainedRow:
    row: PreparedRow
    chain_partition: int
    seq: int
    prev_hash: str
    row_hash: str


def occurred_text(ts: datetime) -> str:
    """The one textual form of a timestamp used in hashes (and stored by SQLite): UTC, microseconds."""
    utc = ts if ts.tzinfo is UTC else ts.astimezone(UTC)
    if utc.year < 1000:  # isoformat and strftime agree from year 1000 on; keep strftime's form below it
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return utc.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _clean(value: Any) -> str | None:
    if isinstance(value, list):
        value = next((v for v in value if isinstance(v, str) and v), None)
    if not isinstance(value, str) or not value:
        return None
    return value.replace("\x00", "\ufffd")[:MAX_COLUMN_CHARS]


def _path(doc: Any, *keys: str) -> Any:
    for key in keys:
        if not isinstance(doc, dict):
            return None
        doc = doc.get(key)
    return doc


def _ip(value: Any) -> str | None:
    text = _clean(value)
    if text is None:
        return None
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, ipaddress.IPv6Address) and addr.scope_id:
        return None
    return str(addr)


class RecordError(ValueError):
    """The envelope cannot be stored as an audit row; the message says why (for the dead letter)."""


def prepare(envelope: Envelope, raw: bytes | None = None) -> PreparedRow:
    """Extract the index columns; `record` is the envelope's JSON: `raw` (the bytes it was decoded from, as
    they arrived from Kafka: no second serialization) or, without it, a sorted-keys encoding."""
    if not envelope.id or len(envelope.id) > MAX_ID_CHARS or "\x00" in envelope.id:
        raise RecordError(f"envelope id must be 1..{MAX_ID_CHARS} characters without NUL")
    if not envelope.corp_id or len(envelope.corp_id) > MAX_COLUMN_CHARS or "\x00" in envelope.corp_id:
        raise RecordError(f"corp_id must be 1..{MAX_COLUMN_CHARS} characters without NUL")
    try:
        occurred = parse_iso(envelope.occurred_at)
    except (TypeError, ValueError) as exc:
        raise RecordError(f"occurred_at {str(envelope.occurred_at)[:64]!r} is not an RFC 3339 time") from exc
    occurred = occurred.replace(tzinfo=UTC) if occurred.tzinfo is None else occurred.astimezone(UTC)
    if raw is not None:
        record = raw.decode()  # valid UTF-8: it parsed as JSON
    else:
        try:
            record = orjson.dumps(envelope.to_dict(), option=orjson.OPT_SORT_KEYS).decode()
        except TypeError as exc:
            raise RecordError(f"envelope is not serialisable as JSON: {exc}") from exc
    data = envelope.data
    user = _clean(_path(data, "user", "email")) or _clean(_path(data, "user", "name"))
    kind = _clean(_path(data, "event", "dataset")) or _clean(envelope.schema_name) or "unknown"
    return PreparedRow(
        id=envelope.id,
        corp_id=envelope.corp_id,
        occurred_at=occurred,
        schema=_clean(envelope.schema) or "unknown",
        kind=kind,
        action=_clean(_path(data, "event", "action")),
        user=user,
        source_ip=_ip(_path(data, "source", "ip")),
        outcome=_clean(_path(data, "event", "outcome")),
        source=_clean(envelope.source) or "unknown",
        record=record,
        occurred_text=occurred_text(occurred),
    )


StoreInput = Envelope | tuple[Envelope, bytes | None]
"""What a store takes: an envelope, or an envelope with the bytes it was decoded from (stored as they are)."""


def prepare_batch(items: Iterable[StoreInput], seen: set[str] | None = None,
                  ) -> tuple[list[PreparedRow], int, list[RejectedRecord]]:
    """Prepared rows in input order with repeated ids removed (also those in `seen`, which is extended), the
    count of in-batch repeats, and refusals."""
    rows: list[PreparedRow] = []
    seen = set() if seen is None else seen
    repeats = 0
    rejected: list[RejectedRecord] = []
    for item in items:
        env, raw = (item, None) if isinstance(item, Envelope) else item
        try:
            row = prepare(env, raw)
        except RecordError as exc:
            rejected.append(RejectedRecord(env, f"audit: {exc}"))
            continue
        if row.id in seen:
            repeats += 1
            continue
        seen.add(row.id)
        rows.append(row)
    return rows, repeats, rejected


def prepare_chains(parts: Mapping[int, Sequence[StoreInput]],
                   ) -> tuple[list[tuple[int, list[PreparedRow]]], int, list[RejectedRecord]]:
    """prepare_batch over several chains at once; an id is kept once across all of them."""
    seen: set[str] = set()
    out: list[tuple[int, list[PreparedRow]]] = []
    repeats = 0
    rejected: list[RejectedRecord] = []
    for chain_partition in sorted(parts):
        rows, rep, rej = prepare_batch(parts[chain_partition], seen)
        repeats += rep
        rejected.extend(rej)
        if rows:
            out.append((chain_partition, rows))
    return out, repeats, rejected


def canonical_content(
    *, id: str, corp_id: str, chain_partition: int, seq: int, occurred: str, schema: str, kind: str,
    action: str | None, user: str | None, source_ip: str | None, outcome: str | None, source: str, record: str,
) -> bytes:
    return orjson.dumps([ROW_FORMAT, id, corp_id, chain_partition, seq, occurred, schema, kind, action, user,
                         source_ip, outcome, source, record])


def row_hash(prev_hash: str, content: bytes) -> str:
    return hashlib.sha256(bytes.fromhex(prev_hash) + content).hexdigest()


def chain_rows(rows: Sequence[PreparedRow], chain_partition: int,
               heads: dict[str, tuple[int, str]]) -> list[ChainedRow]:
    """Give each row its sequence number and hashes, advancing `heads` (corp_id -> (seq, hash)) in place."""
    out: list[ChainedRow] = []
    for row in rows:
        seq, prev = heads.get(row.corp_id, (0, GENESIS))
        seq += 1
        content = canonical_content(
            id=row.id, corp_id=row.corp_id, chain_partition=chain_partition, seq=seq, occurred=row.occurred_text,
            schema=row.schema, kind=row.kind, action=row.action, user=row.user, source_ip=row.source_ip,
            outcome=row.outcome, source=row.source, record=row.record)
        digest = row_hash(prev, content)
        out.append(ChainedRow(row, chain_partition, seq, prev, digest))
        heads[row.corp_id] = (seq, digest)
    return out


@dataclass(slots=True, frozen=True)
class StoredChainRow:
    """A row as read back for verification (columns exactly as stored)."""

    corp_id: str
    chain_partition: int
    seq: int
    id: str
    occurred: str
    schema: str
    kind: str
    action: str | None
    user: str | None
    source_ip: str | None
    outcome: str | None
    source: str
    record: str
    prev_hash: str
    row_hash: str


async def walk_chains(
    rows: AsyncIterator[StoredChainRow], heads: dict[tuple[str, int], tuple[int, str]]
) -> VerifyReport:
    """Recompute chains from rows ordered by (corp_id, chain_partition, seq) and compare with the head table.

    Reports the first break of each chain: a changed row (hash mismatch), a broken link (a row replaced or
    inserted), a sequence gap or repeat (rows deleted or duplicated), or a head that the rows do not reach
    (rows deleted at the tail)."""
    report = VerifyReport()
    broken: set[tuple[str, int]] = set()
    state: dict[tuple[str, int], tuple[int, str]] = {}

    def fail(key: tuple[str, int], seq: int, ident: str | None, reason: str) -> None:
        if key not in broken:
            broken.add(key)
            report.breaks.append(ChainBreak(key[0], key[1], seq, ident, reason))

    async for r in rows:
        key = (r.corp_id, r.chain_partition)
        report.rows += 1
        if key not in state:
            state[key] = (0, GENESIS)
        if key in broken:
            continue
        last_seq, last_hash = state[key]
        if r.seq != last_seq + 1:
            what = "repeated" if r.seq <= last_seq else f"missing seq {last_seq + 1}..{r.seq - 1} (rows deleted)"
            fail(key, r.seq, r.id, f"sequence broken after seq {last_seq}: {what}")
            continue
        if r.prev_hash != last_hash:
            fail(key, r.seq, r.id, "prev_hash does not match the previous row (row replaced or inserted)")
            continue
        content = canonical_content(
            id=r.id, corp_id=r.corp_id, chain_partition=r.chain_partition, seq=r.seq, occurred=r.occurred,
            schema=r.schema, kind=r.kind, action=r.action, user=r.user, source_ip=r.source_ip,
            outcome=r.outcome, source=r.source, record=r.record)
        if row_hash(r.prev_hash, content) != r.row_hash:
            fail(key, r.seq, r.id, "row content does not match its row_hash (row modified)")
            continue
        state[key] = (r.seq, r.row_hash)
    for key in sorted(set(heads) | set(state)):
        seq, digest = state.get(key, (0, GENESIS))
        if key in broken:
            continue
        head = heads.get(key)
        if head is None:
            fail(key, seq, None, "rows exist but the chain head is missing")
        elif head[0] > seq:
            fail(key, seq + 1, None, f"chain head is at seq {head[0]} but rows end at seq {seq} (rows deleted)")
        elif head[0] < seq:
            fail(key, head[0] + 1, None, f"rows go on to seq {seq} past the chain head at seq {head[0]}")
        elif head[1] != digest:
            fail(key, seq, None, "chain head hash does not match the last row")
        else:
            report.heads.append(ChainHead(key[0], key[1], seq, digest))
    report.chains = len(set(heads) | set(state))
    report.breaks.sort(key=lambda b: (b.corp_id, b.chain_partition, b.seq))
    return report
