"""Raw record kinds, their envelope schemas and their deterministic ids.

The Exmail log API returns no record ids, so a raw record's id is a fingerprint of its content. Two records
with identical content within one date (e.g. the same mail to the same receiver in the same second) are told
apart by their occurrence index: the n-th identical record of that date's answer gets occurrence n. Sources,
the normalize transform, sinks and the simulator's ground truth all use `raw_id`, so one log line has one id
from Kafka to the SIEM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import orjson

from pipeline import streams
from pipeline.envelope import fingerprint

# kind -> envelope schema of exmail.raw.<kind> (data layout documented in schemas/), from the stream catalog
RAW_SCHEMAS: dict[str, str] = {s.kind: s.schema for s in streams.raw_kinds()}
HR_SCHEMA = streams.get("hr_lifecycle").schema
EVENT_SCHEMA = "exmail.event/1"

# The fields of each log record that make its identity (all the fields the API returns).
LOG_IDENTITY_FIELDS: dict[str, tuple[str, ...]] = {
    s.kind: s.identity for s in streams.catalog().values() if s.identity is not None
}
# the kinds whose records are about the user queried (log/login): the userid is part of the identity
_PER_USER = frozenset(s.kind for s in streams.log_kinds() if s.log is not None and s.log.per_user)


def record_identity(kind: str, record: Mapping[str, Any], context: Mapping[str, Any] | None = None) -> tuple[Any, ...]:
    """The canonical tuple a record's id is computed from (before the occurrence index)."""
    fields = LOG_IDENTITY_FIELDS.get(kind)
    body: Any = tuple(record.get(f) for f in fields) if fields else orjson.loads(
        orjson.dumps(dict(record), option=orjson.OPT_SORT_KEYS))
    subject = (context or {}).get("userid") if kind in _PER_USER else None
    return (kind, subject, body)


def raw_id(corp_id: str, kind: str, record: Mapping[str, Any], occurrence: int = 0,
           context: Mapping[str, Any] | None = None) -> str:
    """Deterministic envelope id of one raw log record; `context` carries the userid for login records."""
    return fingerprint("exmail.raw", corp_id, *record_identity(kind, record, context), occurrence)


def with_ids(corp_id: str, kind: str, records: Iterable[Mapping[str, Any]],
             context: Mapping[str, Any] | None = None) -> Iterator[tuple[str, Mapping[str, Any]]]:
    """Yield (raw_id, record) for one complete API answer: the same ids as with_occurrences + raw_id, with the
    identity computed once per record and the constant head of the fingerprint hashed once per answer (the
    pollers' hot path: about half the per-record cost of the two calls)."""
    kind_, subject, _ = record_identity(kind, {}, context)
    head = hashlib.sha256()
    for value in ("exmail.raw", corp_id, kind_, subject):
        b = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        head.update(len(b).to_bytes(4, "big") + b)
    fields = LOG_IDENTITY_FIELDS.get(kind)
    counts: dict[bytes, int] = {}
    for rec in records:
        body: Any = tuple(rec.get(f) for f in fields) if fields else orjson.loads(
            orjson.dumps(dict(rec), option=orjson.OPT_SORT_KEYS))
        b = orjson.dumps(body, option=orjson.OPT_SORT_KEYS)
        n = counts.get(b, 0)
        counts[b] = n + 1
        h = head.copy()
        occurrence = orjson.dumps(n)
        h.update(len(b).to_bytes(4, "big") + b + len(occurrence).to_bytes(4, "big") + occurrence)
        yield h.hexdigest()[:32], rec


def with_occurrences(kind: str, records: Iterable[Mapping[str, Any]],
                     context: Mapping[str, Any] | None = None) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (occurrence, record) for one complete API answer, numbering identical records 0, 1, 2..."""
    counts: dict[bytes, int] = {}
    for rec in records:
        key = orjson.dumps(record_identity(kind, rec, context))
        n = counts.get(key, 0)
        counts[key] = n + 1
        yield n, rec
