"""Raw record kinds, their envelope schemas and their deterministic ids.

The Exmail log API returns no record ids, so a raw record's id is a fingerprint of its content. Two records
with identical content within one date (e.g. the same mail to the same receiver in the same second) are told
apart by their occurrence index: the n-th identical record of that date's answer gets occurrence n. Sources,
the normalize transform, sinks and the simulator's ground truth all use `raw_id`, so one log line has one id
from Kafka to the SIEM.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from operator import itemgetter
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
    """Yield (raw_id, record) for one complete API answer: the same ids as with_occurrences + raw_id."""
    for digest, rec in with_digests(corp_id, kind, records, context):
        yield digest.hex(), rec


def with_digests(corp_id: str, kind: str, records: Iterable[Mapping[str, Any]],
                 context: Mapping[str, Any] | None = None) -> Iterator[tuple[bytes, Mapping[str, Any]]]:
    """Yield (16-byte digest, record) for one complete API answer; `digest.hex()` is the record's raw_id."""
    records = list(records)
    return zip(digests_of(corp_id, kind, records, context), records, strict=True)


def digests_of(corp_id: str, kind: str, records: Sequence[Mapping[str, Any]],
               context: Mapping[str, Any] | None = None) -> list[bytes]:
    """The 16-byte digest of each record of one complete API answer (`digest.hex()` is its raw_id).

    The pollers' hot path: the identity is computed once per record, the constant head of the fingerprint is
    hashed once per answer, and the id stays 16 bytes (what the seen-set holds) until the envelope needs it."""
    kind_, subject, _ = record_identity(kind, {}, context)
    head = hashlib.sha256()
    for value in ("exmail.raw", corp_id, kind_, subject):
        b = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        head.update(len(b).to_bytes(4, "big") + b)
    fields = LOG_IDENTITY_FIELDS.get(kind)
    identity = itemgetter(*fields) if fields and len(fields) > 1 else None  # one C call, KeyError if one is missing
    counts: dict[bytes, int] = {}
    occurrences: list[bytes] = []  # the length-prefixed JSON of 0, 1, 2... (identical records are rare)
    first = len(orjson.dumps(0)).to_bytes(4, "big") + orjson.dumps(0)
    dumps = orjson.dumps
    sort = orjson.OPT_SORT_KEYS
    copy = head.copy
    out: list[bytes] = []
    for rec in records:
        body: Any
        if identity is not None:
            try:
                body = identity(rec)
            except KeyError:  # an optional field the API left out counts as null, as rec.get gives
                body = tuple(map(rec.get, fields))  # type: ignore[arg-type]
        else:
            body = tuple(map(rec.get, fields)) if fields else orjson.loads(dumps(dict(rec), option=sort))
        b = dumps(body, option=sort)
        h = copy()
        h.update(len(b).to_bytes(4, "big") + b + first)
        digest = h.digest()[:16]
        # identical records are told apart by occurrence; the first occurrence's digest names the identity
        # (holding orjson's outputs instead would keep the 1 KiB block each was written into: measured ~3x
        # the cost of the whole loop in heap growth)
        n = counts.get(digest, 0)
        counts[digest] = n + 1
        if n:
            while len(occurrences) <= n:
                occurrence = dumps(len(occurrences))
                occurrences.append(len(occurrence).to_bytes(4, "big") + occurrence)
            h = copy()
            h.update(len(b).to_bytes(4, "big") + b + occurrences[n])
            digest = h.digest()[:16]
        out.append(digest)
    return out


def with_occurrences(kind: str, records: Iterable[Mapping[str, Any]],
                     context: Mapping[str, Any] | None = None) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """Yield (occurrence, record) for one complete API answer, numbering identical records 0, 1, 2..."""
    counts: dict[bytes, int] = {}
    for rec in records:
        key = orjson.dumps(record_identity(kind, rec, context))
        n = counts.get(key, 0)
        counts[key] = n + 1
        yield n, rec
