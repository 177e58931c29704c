"""The action ledger: one JSON entry per action id, plus small index values, over any key/value store.

Keys:
  action/<id>               the LedgerEntry
  index/pending            {"ids": {<id>: <due_at or 0>}} every entry that still needs work
  index/recent             {"ids": [<id>, ...]} newest last, bounded
  window/<corp>/<kind>     {"hits": [[<unix time>, <userid>], ...]} the sliding window of the hourly limits

Crash safety comes from the write order: an entry becoming pending is indexed before it is written, an entry
becoming final is written before it leaves the index, so a crash between the two writes leaves at worst an
index entry pointing at a finished action (dropped when seen), never a pending action nobody will find.
"""

from __future__ import annotations

from collections.abc import Iterable, MutableMapping
from typing import Any, Protocol, runtime_checkable

import orjson

from pipeline.actions.config import ActionKind
from pipeline.actions.model import LedgerEntry, LedgerState

PENDING_KEY = "index/pending"
RECENT_KEY = "index/recent"


@runtime_checkable
class LedgerStore(Protocol):
    """A JSON key/value store: back it by a faust table, a compacted topic (KafkaLedgerStore) or memory.

    `put(key, None)` deletes. Values are JSON objects; a `put` must be durable when it returns.
    """

    async def get(self, key: str) -> dict[str, Any] | None: ...

    async def put(self, key: str, value: dict[str, Any] | None) -> None: ...


class MemoryLedgerStore:
    """A dict-backed store (tests, single-process demos). Values are copied in and out like a real store."""

    def __init__(self, data: dict[str, bytes] | None = None) -> None:
        self.data: dict[str, bytes] = data if data is not None else {}

    def __repr__(self) -> str:
        return f"MemoryLedgerStore({len(self.data)} keys)"

    async def get(self, key: str) -> dict[str, Any] | None:
        raw = self.data.get(key)
        return None if raw is None else orjson.loads(raw)

    async def put(self, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.data.pop(key, None)
        else:
            self.data[key] = orjson.dumps(value)


class MappingLedgerStore:
    """Adapts a dict-like holding JSON objects, e.g. a faust table. The ledger's index keys are shared by all
    actions, so the mapping must see every key (one actions worker, or a global table)."""

    def __init__(self, mapping: MutableMapping[str, Any]) -> None:
        self.mapping = mapping

    def __repr__(self) -> str:
        return f"MappingLedgerStore({type(self.mapping).__name__})"

    async def get(self, key: str) -> dict[str, Any] | None:
        value = self.mapping.get(key)
        return None if value is None else orjson.loads(orjson.dumps(value))

    async def put(self, key: str, value: dict[str, Any] | None) -> None:
        if value is None:
            self.mapping.pop(key, None)
        else:
            self.mapping[key] = orjson.loads(orjson.dumps(value))


def entry_key(action_id: str) -> str:
    return f"action/{action_id}"


def window_key(corp_id: str, kind: ActionKind) -> str:
    return f"window/{corp_id}/{kind.value}"


class Ledger:
    """Typed access to the store: entries, the pending and recent indexes, and limit windows."""

    def __init__(self, store: LedgerStore, *, recent_limit: int = 500) -> None:
        self.store = store
        self.recent_limit = recent_limit

    def __repr__(self) -> str:
        return f"Ledger({self.store!r})"

    async def get(self, action_id: str) -> LedgerEntry | None:
        raw = await self.store.get(entry_key(action_id))
        return None if raw is None else LedgerEntry.from_json(raw)

    async def save(self, entry: LedgerEntry) -> None:
        if entry.pending:
            await self._index_pending(entry.id, entry.due_at)
            await self.store.put(entry_key(entry.id), entry.to_json())
        else:
            await self.store.put(entry_key(entry.id), entry.to_json())
            await self._unindex_pending(entry.id)
        await self._remember(entry.id)

    async def pending_ids(self) -> dict[str, float]:
        raw = await self.store.get(PENDING_KEY)
        ids = (raw or {}).get("ids", {})
        return {str(k): float(v) for k, v in ids.items()} if isinstance(ids, dict) else {}

    async def _index_pending(self, action_id: str, due_at: float | None) -> None:
        ids = await self.pending_ids()
        due = float(due_at or 0.0)
        if ids.get(action_id) != due:
            ids[action_id] = due
            await self.store.put(PENDING_KEY, {"ids": ids})

    async def _unindex_pending(self, action_id: str) -> None:
        ids = await self.pending_ids()
        if action_id in ids:
            del ids[action_id]
            await self.store.put(PENDING_KEY, {"ids": ids})

    async def _remember(self, action_id: str) -> None:
        raw = await self.store.get(RECENT_KEY)
        ids = list((raw or {}).get("ids", []))
        if action_id in ids:
            return
        ids.append(action_id)
        await self.store.put(RECENT_KEY, {"ids": ids[-self.recent_limit :]})

    async def pending(self) -> list[LedgerEntry]:
        """Every entry that still needs work (interrupted, scheduled, awaiting approval, unflushed output)."""
        out: list[LedgerEntry] = []
        stale: list[str] = []
        for action_id in await self.pending_ids():
            entry = await self.get(action_id)
            if entry is None or not entry.pending:
                stale.append(action_id)
            else:
                out.append(entry)
        for action_id in stale:
            await self._unindex_pending(action_id)
        return out

    async def due(self, now: float) -> list[LedgerEntry]:
        """What to run now: interrupted work (planned, executing, undoing, unflushed output) at once,
        scheduled actions and approval expiries whose time has come; by due time, then request time."""
        due: list[LedgerEntry] = []
        for entry in await self.pending():
            timed = entry.state in (LedgerState.SCHEDULED, LedgerState.AWAITING_APPROVAL)
            if entry.outbox or not timed or (entry.due_at is not None and entry.due_at <= now):
                due.append(entry)
        return sorted(due, key=lambda e: (e.due_at or 0.0, e.request.requested_at))

    async def recent(self, limit: int = 50) -> list[LedgerEntry]:
        """The most recently created actions, newest first."""
        raw = await self.store.get(RECENT_KEY)
        ids = list((raw or {}).get("ids", []))[::-1][:limit]
        entries = [await self.get(i) for i in ids]
        return [e for e in entries if e is not None]

    # --- hourly limits

    async def window(
        self, corp_id: str, kind: ActionKind, now: float, length: float
    ) -> list[tuple[float, str]]:
        raw = await self.store.get(window_key(corp_id, kind))
        hits = [(float(t), str(u)) for t, u in (raw or {}).get("hits", [])]
        return [(t, u) for t, u in hits if t > now - length]

    async def add_hit(self, corp_id: str, kind: ActionKind, now: float, length: float, userid: str) -> None:
        hits = await self.window(corp_id, kind, now, length)
        hits.append((now, userid))
        await self.store.put(window_key(corp_id, kind), {"hits": [[t, u] for t, u in hits]})


def distinct_accounts(hits: Iterable[tuple[float, str]]) -> set[str]:
    return {u for _, u in hits}
