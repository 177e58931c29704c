"""Silences (Alertmanager semantics): matchers plus a time range; alerts matching every matcher while the
silence is active are not notified.

The store is rebuilt from a log of changes: each mutation returns `SilenceChange`s (the silence's full new
state, or a tombstone once it is garbage-collected), `apply(change)` merges one (last write wins on
`updated_at`, as Alertmanager's gossip merge), `snapshot()`/`load()` move the whole state. The lead maps a
change to a record on the compacted topic exmail.state.silences: key = silence id, value = the silence JSON,
or null for a tombstone. Expired silences are kept for `retention` (default 120h), then tombstoned by `gc`.
"""

from __future__ import annotations

import builtins
import math
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import Any

import orjson

from pipeline.envelope import parse_iso, utc_iso
from pipeline.transforms.routing.matchers import Matcher, MatcherError, matches_all, parse_matchers
from pipeline.transforms.rules.durations import parse_duration

DEFAULT_RETENTION = 120 * 3600.0
STATES = ("active", "pending", "expired")


class SilenceError(ValueError):
    """A silence request is invalid (bad matchers, times, missing author or comment)."""


class SilenceNotFound(KeyError):
    """No silence with that id."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    updated_at: float
    created_by: str
    comment: str

    def state(self, now: float) -> str:
        if now >= self.ends_at:
            return "expired"
        if now < self.starts_at:
            return "pending"
        return "active"

    def active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def mutes(self, labels: Mapping[str, str]) -> bool:
        return matches_all(self.matchers, labels)

    def to_dict(self, now: float | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "matchers": [m.to_api() for m in self.matchers],
            "starts_at": utc_iso(self.starts_at),
            "ends_at": utc_iso(self.ends_at),
            "updated_at": utc_iso(self.updated_at),
            "created_by": self.created_by,
            "comment": self.comment,
        }
        if now is not None:
            out["status"] = {"state": self.state(now)}
        return out

    @classmethod
    def from_dict(cls, obj: Any) -> Silence:
        if not isinstance(obj, dict):
            raise SilenceError("a silence must be a JSON object")
        try:
            matchers = tuple(Matcher.from_api(m) for m in obj.get("matchers") or ())
            return cls(id=_str(obj, "id"), matchers=matchers, starts_at=_ts(obj, "starts_at"),
                       ends_at=_ts(obj, "ends_at"), updated_at=_ts(obj, "updated_at"),
                       created_by=_str(obj, "created_by"), comment=_str(obj, "comment"))
        except MatcherError as exc:
            raise SilenceError(f"silence matchers: {exc}") from exc


@dataclass(frozen=True, slots=True)
class SilenceChange:
    """One entry of the silence log: `silence` is the new full state, None a tombstone (forget the id)."""

    id: str
    silence: dict[str, Any] | None

    def key(self) -> bytes:
        return self.id.encode()

    def value(self) -> bytes | None:
        return None if self.silence is None else orjson.dumps(self.silence)

    @classmethod
    def from_record(cls, key: bytes | str, value: bytes | str | dict[str, Any] | None) -> SilenceChange:
        """From a record of the silence log: raw bytes, or a value already decoded (read_compacted)."""
        sid = key.decode() if isinstance(key, bytes) else key
        if value is None or isinstance(value, dict):
            return cls(sid, value)
        return cls(sid, orjson.loads(value))


class SilenceStore:
    def __init__(self, *, retention: float = DEFAULT_RETENTION, clock: Callable[[], float] = time.time,
                 id_factory: Callable[[], str] | None = None, max_silences: int | None = None) -> None:
        self.retention = retention
        self.clock = clock
        self._new_id = id_factory or (lambda: str(uuid.uuid4()))
        self.max_silences = max_silences
        self._silences: dict[str, Silence] = {}
        self.version = 0
        self._active: tuple[int, float, float, builtins.list[Silence]] = (-1, 0.0, 0.0, [])

    # --- queries

    def get(self, silence_id: str) -> Silence:
        try:
            return self._silences[silence_id]
        except KeyError:
            raise SilenceNotFound(silence_id) from None

    def list(self, now: float | None = None, state: str | None = None) -> builtins.list[Silence]:
        """Active first (soonest end first), then pending (soonest start), then expired (latest end first)."""
        now = self.clock() if now is None else now
        order = {"active": 0, "pending": 1, "expired": 2}
        items = [s for s in self._silences.values() if state is None or s.state(now) == state]

        def key(s: Silence) -> tuple[int, float, str]:
            st = s.state(now)
            when = s.ends_at if st == "active" else s.starts_at if st == "pending" else -s.ends_at
            return order[st], when, s.id
        return sorted(items, key=key)

    def mutes(self, labels: Mapping[str, str], now: float) -> str | None:
        """The id of an active silence matching these labels, else None."""
        for s in self._active_at(now):
            if s.mutes(labels):
                return s.id
        return None

    def __len__(self) -> int:
        return len(self._silences)

    # --- mutations (each returns the changes to persist)

    def set(self, spec: Mapping[str, Any], now: float | None = None) -> tuple[Silence, builtins.list[SilenceChange]]:
        """Create a silence, or update the one named by `spec["id"]`.

        As Alertmanager: a start in the past becomes now; the end must be after the start and not in the past;
        `created_by` and `comment` are required; at least one matcher must not match the empty string. An
        update keeps the id only when the silence is not expired and its matchers are unchanged (and it has not
        started, if the start moves); otherwise the old silence is expired and a new one created.
        """
        now = _ms(self.clock() if now is None else now)
        matchers = _parse_matchers(spec.get("matchers"))
        created_by = spec.get("created_by")
        comment = spec.get("comment")
        if not isinstance(created_by, str) or not created_by.strip():
            raise SilenceError("created_by is required")
        if not isinstance(comment, str) or not comment.strip():
            raise SilenceError("comment is required")
        starts_at = max(_ms(_time_arg(spec.get("starts_at"), "starts_at", now)), now)
        if spec.get("ends_at") is not None:
            ends_at = _ms(_time_arg(spec.get("ends_at"), "ends_at", now))
        elif spec.get("duration") is not None:
            try:
                ends_at = _ms(starts_at + parse_duration(spec["duration"]))
            except ValueError as exc:
                raise SilenceError(f"duration: {exc}") from exc
        else:
            raise SilenceError("ends_at or duration is required")
        if ends_at <= now:
            raise SilenceError("ends_at must be in the future")
        if ends_at <= starts_at:
            raise SilenceError("ends_at must be after starts_at")
        changes: builtins.list[SilenceChange] = []
        sid = spec.get("id")
        if sid:
            old = self.get(str(sid))
            if old.state(now) != "expired" and old.matchers == matchers and (
                    old.state(now) == "pending" or old.starts_at == starts_at or starts_at <= now):
                start = old.starts_at if old.state(now) == "active" else starts_at
                new = replace(old, starts_at=start, ends_at=ends_at, updated_at=now,
                              created_by=created_by, comment=comment)
                return new, [self._put(new)]
            if old.state(now) != "expired":
                changes.extend(self.expire(old.id, now)[1])
        if self.max_silences is not None and len(self._silences) >= self.max_silences:
            raise SilenceError(f"too many silences (limit {self.max_silences}); expire or wait for gc")
        new = Silence(id=self._unique_id(), matchers=matchers, starts_at=starts_at, ends_at=ends_at,
                      updated_at=now, created_by=created_by, comment=comment)
        changes.append(self._put(new))
        return new, changes

    def expire(self, silence_id: str, now: float | None = None) -> tuple[Silence, builtins.list[SilenceChange]]:
        """End a silence now (Alertmanager's delete). Expiring an expired silence changes nothing."""
        now = _ms(self.clock() if now is None else now)
        old = self.get(silence_id)
        state = old.state(now)
        if state == "expired":
            return old, []
        new = replace(old, ends_at=now, updated_at=now) if state == "active" else \
            replace(old, starts_at=now, ends_at=now, updated_at=now)
        return new, [self._put(new)]

    def gc(self, now: float | None = None) -> builtins.list[SilenceChange]:
        """Forget silences that ended more than `retention` ago; returns their tombstones."""
        now = self.clock() if now is None else now
        dead = [s.id for s in self._silences.values() if s.ends_at + self.retention <= now]
        changes = []
        for sid in dead:
            del self._silences[sid]
            changes.append(SilenceChange(sid, None))
        if dead:
            self.version += 1
        return changes

    # --- write-ahead: plan on a shadow, persist, then commit

    def shadow(self) -> SilenceStore:
        """A copy to plan a mutation on (`shadow().set(spec)`), so this store changes only once the plan's
        changes are durable (`commit`)."""
        copy = SilenceStore(retention=self.retention, clock=self.clock, id_factory=self._new_id,
                            max_silences=self.max_silences)
        copy._silences = dict(self._silences)
        return copy

    def commit(self, changes: Iterable[SilenceChange]) -> None:
        """Apply changes this process planned and persisted (no last-write-wins check: they are the newest)."""
        for change in changes:
            if change.silence is None:
                self._silences.pop(change.id, None)
            else:
                self._silences[change.id] = Silence.from_dict(change.silence)
            self.version += 1

    # --- replication / persistence

    def apply(self, change: SilenceChange | Mapping[str, Any]) -> bool:
        """Merge one logged change; True when it changed the store. Older `updated_at` never wins."""
        if not isinstance(change, SilenceChange):
            change = SilenceChange(str(change["id"]), change.get("silence"))
        if change.silence is None:
            if self._silences.pop(change.id, None) is None:
                return False
            self.version += 1
            return True
        incoming = Silence.from_dict(change.silence)
        if incoming.id != change.id:
            raise SilenceError(f"change key {change.id!r} does not match silence id {incoming.id!r}")
        current = self._silences.get(incoming.id)
        if current is not None and current.updated_at >= incoming.updated_at:
            return False
        self._silences[incoming.id] = incoming
        self.version += 1
        return True

    def snapshot(self) -> builtins.list[dict[str, Any]]:
        return [s.to_dict() for s in sorted(self._silences.values(), key=lambda s: s.id)]

    def load(self, snapshot: Iterable[Mapping[str, Any]]) -> None:
        self._silences = {}
        for obj in snapshot:
            s = Silence.from_dict(dict(obj))
            self._silences[s.id] = s
        self.version += 1

    # --- internals

    def _put(self, silence: Silence) -> SilenceChange:
        self._silences[silence.id] = silence
        self.version += 1
        return SilenceChange(silence.id, silence.to_dict())

    def _unique_id(self) -> str:
        while True:
            sid = self._new_id()
            if sid not in self._silences:
                return sid

    def _active_at(self, now: float) -> builtins.list[Silence]:
        """Active silences, cached until the store changes or `now` crosses a silence's start or end."""
        version, valid_from, valid_until, active = self._active
        if version == self.version and valid_from <= now < valid_until:
            return active
        active, lo, hi = [], float("-inf"), float("inf")
        for s in self._silences.values():
            if s.active(now):
                active.append(s)
            for edge in (s.starts_at, s.ends_at):
                if edge <= now:
                    lo = max(lo, edge)
                else:
                    hi = min(hi, edge)
        self._active = (self.version, lo, hi, active)
        return active


def _ms(ts: float) -> float:
    """Millisecond precision (rounded down, so an expiry is never after the clock that made it), what the wire
    form keeps, so a reloaded silence equals the one in memory."""
    return math.floor(ts * 1000) / 1000


def _parse_matchers(raw: Any) -> tuple[Matcher, ...]:
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not raw:
        raise SilenceError("matchers: give at least one matcher")
    try:
        out: list[Matcher] = []
        for item in raw:
            out.extend(parse_matchers(item) if isinstance(item, str) else [Matcher.from_api(item)])
    except MatcherError as exc:
        raise SilenceError(f"matchers: {exc}") from exc
    if not out:
        raise SilenceError("matchers: give at least one matcher")
    if all(m.matches_empty() for m in out):
        raise SilenceError("matchers: at least one matcher must not match the empty string (it would silence "
                           "everything)")
    return tuple(out)


def _time_arg(value: Any, name: str, now: float) -> float:
    if value is None:
        return now
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            dt = parse_iso(value)
        except ValueError as exc:
            raise SilenceError(f"{name}: {value!r} is not an RFC 3339 time") from exc
        if dt.tzinfo is None:
            raise SilenceError(f"{name}: {value!r} needs a UTC offset (e.g. Z)")
        return dt.timestamp()
    raise SilenceError(f"{name}: expected an RFC 3339 time")


def _str(obj: Mapping[str, Any], key: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise SilenceError(f"silence field {key!r} must be a string")
    return value


def _ts(obj: Mapping[str, Any], key: str) -> float:
    value = obj.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise SilenceError(f"silence field {key!r} must be an RFC 3339 time")
    try:
        return parse_iso(value).timestamp()
    except ValueError as exc:
        raise SilenceError(f"silence field {key!r}: {exc}") from exc
