"""The one record shape on every topic: an envelope around `data`, with a content fingerprint as `id`.

`id` is deterministic (the same log line fetched twice has the same id from Kafka to the SIEM), so every
hop downstream can be idempotent by id.
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import orjson

ENVELOPE_KEYS = ("schema", "id", "corp_id", "source", "observed_at", "occurred_at", "data")


class EnvelopeError(ValueError):
    """A payload is not a valid envelope; the message says which part is wrong."""


def fingerprint(*fields: Any) -> str:
    """sha256 over length-prefixed canonical JSON of each field, truncated to 128 bits (32 hex chars).

    Length prefixes keep ("ab", "c") and ("a", "bc") apart; JSON typing keeps 1 and "1" apart; sorted keys
    make dicts canonical.
    """
    return _hashed(fields).hexdigest()[:32]


def _hashed(fields: tuple[Any, ...]) -> Any:
    """The sha256 state after the length-prefixed canonical JSON of each field (fingerprint's input)."""
    h = hashlib.sha256()
    for value in fields:
        b = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        h.update(len(b).to_bytes(4, "big"))
        h.update(b)
    return h


def seeded_fingerprint(seed: tuple[str, ...], *fields: Any) -> str:
    """fingerprint(*seed, *fields), with the hash of the leading constant fields (a kind, a receiver, a sink)
    computed once per seed: the hot paths hash ids whose first fields never change."""
    h = _seed(seed).copy()
    parts: list[bytes] = []
    for value in fields:
        b = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
        parts.append(len(b).to_bytes(4, "big"))
        parts.append(b)
    h.update(b"".join(parts))
    return h.hexdigest()[:32]


_seed = lru_cache(maxsize=1024)(_hashed)  # per seed, the state to copy: seeds are a few constant tuples


_SECOND_TEXT: dict[int, str] = {}  # unix second -> "YYYY-MM-DDTHH:MM:SS." (strftime is most of utc_iso's cost)


def utc_iso(ts: float | datetime | None = None) -> str:
    """RFC 3339 UTC with milliseconds, e.g. 2026-11-29T18:04:36.123Z; `None` means now."""
    if ts is None:
        ts = time.time()
    if type(ts) is float or type(ts) is int:
        if 0 <= ts < _MAX_SECONDS:
            # without a datetime: the microseconds rounded half-even exactly as datetime.fromtimestamp does
            # (modf, then * 1e6, then round), the seconds' text from the cache
            second = int(ts)
            micro = round((ts - second) * 1e6)
            if micro >= 1_000_000:
                second, micro = second + 1, micro - 1_000_000
            head = _SECOND_TEXT.get(second)
            if head is not None:
                return f"{head}{micro // 1000:03d}Z"
        dt = datetime.fromtimestamp(ts, UTC)
    elif isinstance(ts, datetime):
        dt = ts.astimezone(UTC)
    else:
        dt = datetime.fromtimestamp(ts, UTC)
    second = (dt.toordinal() - 719163) * 86400 + dt.hour * 3600 + dt.minute * 60 + dt.second
    head = _SECOND_TEXT.get(second)
    if head is None:
        if len(_SECOND_TEXT) > 4096:  # timestamps of a burst share a few seconds; old ones are not needed
            _SECOND_TEXT.clear()
        head = _SECOND_TEXT[second] = dt.strftime("%Y-%m-%dT%H:%M:%S.")
    return f"{head}{dt.microsecond // 1000:03d}Z"


_DAY_SECONDS = 86400
_MIN_SECONDS = -62135596800  # 0001-01-01T00:00:00Z
_MAX_SECONDS = 253402300799  # 9999-12-31T23:59:59Z
_HOUR_MINUTE = [f"{m // 60:02d}:{m % 60:02d}:".encode() for m in range(1440)]
_SECOND = [f"{s:02d}.000Z".encode() for s in range(60)]


class UtcSeconds:
    """utc_iso(t).encode() for whole Unix seconds, from a per-day cache and two small tables: the pollers
    stamp every record's occurred_at with it (datetime + strftime per record cost more than the rest of the
    envelope). Times outside years 1..9999 go through utc_iso, which raises as before."""

    __slots__ = ("_days",)

    def __init__(self) -> None:
        self._days: dict[int, bytes] = {}

    def __call__(self, t: int) -> bytes:
        if not _MIN_SECONDS <= t <= _MAX_SECONDS:
            return utc_iso(float(t)).encode()
        day, second = divmod(t, _DAY_SECONDS)
        prefix = self._days.get(day)
        if prefix is None:
            prefix = self._days[day] = utc_iso(float(day * _DAY_SECONDS))[:-13].encode()  # up to the "T"
        return prefix + _HOUR_MINUTE[second // 60] + _SECOND[second % 60]


def parse_iso(value: str) -> datetime:
    """Inverse of `utc_iso` (accepts any RFC 3339 offset)."""
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


_SECONDS_OF: dict[str, float] = {}  # RFC 3339 text -> Unix time (bounded like _SECOND_TEXT)


def iso_seconds(value: str) -> float:
    """`parse_iso(value).timestamp()`, remembered: the alerts and notifications of a rule or a burst share a few
    start, end and creation times. Raises ValueError for a text that is not a time."""
    ts = _SECONDS_OF.get(value)
    if ts is None:
        ts = parse_iso(value).timestamp()
        if len(_SECONDS_OF) >= 4096:
            _SECONDS_OF.clear()
        _SECONDS_OF[value] = ts
    return ts


@dataclass(slots=True)
class Envelope:
    """`schema` is "<name>/<version>", e.g. "exmail.raw.mail_log/1"."""

    schema: str
    id: str
    corp_id: str
    source: str
    occurred_at: str
    data: dict[str, Any]
    observed_at: str = field(default_factory=utc_iso)

    @property
    def schema_name(self) -> str:
        return self.schema.rsplit("/", 1)[0]

    @property
    def schema_version(self) -> int:
        return int(self.schema.rsplit("/", 1)[1])

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "id": self.id,
            "corp_id": self.corp_id,
            "source": self.source,
            "observed_at": self.observed_at,
            "occurred_at": self.occurred_at,
            "data": self.data,
        }

    def encode(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, obj: Any) -> Envelope:
        if not isinstance(obj, dict):
            raise EnvelopeError(f"envelope must be a JSON object, got {type(obj).__name__}")
        missing = [k for k in ENVELOPE_KEYS if k not in obj]
        if missing:
            raise EnvelopeError(f"envelope is missing {', '.join(missing)}")
        for k in ENVELOPE_KEYS[:-1]:
            if not isinstance(obj[k], str) or not obj[k]:
                raise EnvelopeError(f"envelope field {k!r} must be a non-empty string")
        if "/" not in obj["schema"] or not obj["schema"].rsplit("/", 1)[1].isdigit():
            raise EnvelopeError(f"envelope schema {obj['schema']!r} must look like 'name/1'")
        if not isinstance(obj["data"], dict):
            raise EnvelopeError("envelope field 'data' must be a JSON object")
        return cls(
            schema=obj["schema"],
            id=obj["id"],
            corp_id=obj["corp_id"],
            source=obj["source"],
            observed_at=obj["observed_at"],
            occurred_at=obj["occurred_at"],
            data=obj["data"],
        )

    @classmethod
    def decode(cls, payload: bytes | str) -> Envelope:
        try:
            obj = orjson.loads(payload)
        except orjson.JSONDecodeError as exc:
            raise EnvelopeError(f"not JSON: {exc}") from exc
        return cls.from_dict(obj)


class EnvelopeBytes:
    """Envelopes of many records that share schema, corp, source, observed_at and data layout, written
    straight to bytes: `encode(id, occurred_at, data)` is byte for byte `Envelope(...).encode()` (same keys,
    same order, orjson's spelling) without building an Envelope and its dicts per record. `data_head` and
    `data_tail` wrap the one per-record member of `data`, e.g. `{"record":` ... `,"context":{...}}`."""

    __slots__ = ("_data_head", "_head", "_middle", "_tail")

    def __init__(self, schema: str, corp_id: str, source: str, observed_at: str, data_head: bytes,
                 data_tail: bytes) -> None:
        dumps = orjson.dumps
        self._head = b'{"schema":' + dumps(schema) + b',"id":"'
        self._middle = (b'","corp_id":' + dumps(corp_id) + b',"source":' + dumps(source)
                        + b',"observed_at":' + dumps(observed_at) + b',"occurred_at":"')
        self._data_head = b'","data":' + data_head
        self._tail = data_tail + b"}"

    def encode(self, hex_id: bytes, occurred_at: bytes, member: bytes) -> bytes:
        """`hex_id` and `occurred_at` must need no JSON escaping (hex digits; an RFC 3339 time)."""
        return b"".join((self._head, hex_id, self._middle, occurred_at, self._data_head, member, self._tail))


def record_key(corp_id: str, subject: str) -> bytes:
    """Kafka key "corp_id/subject" (subject = userid, operator, object id...), as the design's topic table says."""
    return f"{corp_id}/{subject}".encode()
