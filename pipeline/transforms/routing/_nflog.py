"""The notification log (Alertmanager nflog) and the DedupStage decision, behind the state Protocol.

One entry per (receiver, group): the firing and resolved fingerprints last notified, their hash, when, the
sequence number, and an expiry of min(retention, 2 x repeat_interval) as SetNotifiesStage/nflog.Log set it.
State key `nf/<receiver>/<group id>`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote, unquote

from pipeline.transforms.routing.notification import (
    REASON_ALL_RESOLVED,
    REASON_FIRST,
    REASON_NEW_ALERTS,
    REASON_REPEAT,
    REASON_SOME_RESOLVED,
)
from pipeline.transforms.rules.state import RuleState

PREFIX = "nf/"


@dataclass(slots=True)
class Entry:
    firing: frozenset[str]
    resolved: frozenset[str]
    set_hash: str
    timestamp: float
    expires_at: float
    sequence: int
    sequence_start: float

    def to_state(self) -> dict[str, Any]:
        return {"f": sorted(self.firing), "r": sorted(self.resolved), "h": self.set_hash, "t": self.timestamp,
                "x": self.expires_at, "n": self.sequence, "s": self.sequence_start}

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> Entry:
        return cls(frozenset(st["f"]), frozenset(st["r"]), st["h"], st["t"], st["x"], st["n"], st["s"])


def needs_update(entry: Entry | None, firing: frozenset[str], resolved: frozenset[str], send_resolved: bool,
                 repeat_interval: float, now: float) -> str | None:
    """Alertmanager's DedupStage.needsUpdate: the reason to notify, or None."""
    if entry is None:
        return REASON_FIRST if firing else None
    if not firing <= entry.firing:
        return REASON_FIRST if not entry.firing else REASON_NEW_ALERTS
    if not firing:
        return REASON_ALL_RESOLVED if entry.firing else None
    if send_resolved and not resolved <= entry.resolved:
        return REASON_SOME_RESOLVED
    if entry.timestamp < now - repeat_interval:
        return REASON_REPEAT
    return None


class NotificationLog:
    def __init__(self, state: RuleState, retention: float) -> None:
        self._state = state
        self.retention = retention
        self._entries: dict[tuple[str, str], Entry] = {}
        for key, value in state.items(PREFIX):
            receiver, _, gid = key[len(PREFIX):].rpartition("/")
            self._entries[(unquote(receiver), gid)] = Entry.from_state(value)

    def get(self, receiver: str, group_id: str, now: float) -> Entry | None:
        entry = self._entries.get((receiver, group_id))
        if entry is not None and entry.expires_at <= now:
            return None
        return entry

    def log(self, receiver: str, group_id: str, entry: Entry) -> None:
        self._entries[(receiver, group_id)] = entry
        self._state.put(_key(receiver, group_id), entry.to_state())

    def expiry(self, now: float, repeat_interval: float) -> float:
        expiry = 2 * repeat_interval
        return now + (expiry if 0 < expiry < self.retention else self.retention)

    def gc(self, now: float) -> int:
        dead = [k for k, e in self._entries.items() if e.expires_at <= now]
        for receiver, gid in dead:
            del self._entries[(receiver, gid)]
            self._state.delete(_key(receiver, gid))
        return len(dead)

    def __len__(self) -> int:
        return len(self._entries)


def _key(receiver: str, group_id: str) -> str:
    return f"{_quoted(receiver)}/{group_id}"


@lru_cache(maxsize=1024)
def _quoted(receiver: str) -> str:
    """The key prefix of a receiver's entries (a few receivers, quoted once each instead of per write)."""
    return PREFIX + quote(receiver, safe="")
