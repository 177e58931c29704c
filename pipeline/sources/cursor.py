"""Poller cursors (compacted topic exmail.state.cursors) and the seen-set rebuild from a poller's output topic.

A cursor is one JSON value per stream id ("<corp_id>/<kind>"):

    {"stream", "closed_through": "YYYY-MM-DD"|null, "backfill_done": bool,
     "marks": {"YYYY-MM-DD": {"<partition>": offset}}, "updated_at"}

`closed_through` is the last date every record of which was delivered by a run that started after the date's
lag had passed; it is written only after every record of the run's chunk has its delivery report. `marks`
give, for each date still open, the end offsets of the output topic taken before the first record of that
date was produced. On restart the seen-set is rebuilt by scanning the output topic from the partition-wise
minimum of the marks (everything before cannot belong to an open date) and keeping the ids of this corp whose
`data.context.date` is a date the next run will query. With no cursor (or no marks) the scan starts at the
topic's earliest offset.

Why this is safe under SIGKILL: a record delivered before the kill is in the topic, so the rebuilt seen-set
holds it and it is not produced again; a record not delivered is not in the topic, so the next run produces it.
Marks are taken from the topic's end offsets (not from wall-clock timestamps), so they stay exact when the
API's clock runs at another speed than ours (the simulator's fast clock).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import date
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field

from pipeline.envelope import utc_iso
from pipeline.kafka.reader import ScanResult, TopicReader
from pipeline.kafka.state import StateTopic
from pipeline.sources.dedup import SeenSet, digest_of

log = logging.getLogger(__name__)

Offsets = dict[int, int]


class StreamCursor(BaseModel):
    """Where one poller stream stands; see the module docstring."""

    model_config = ConfigDict(extra="allow")

    stream: str
    closed_through: date | None = None
    backfill_done: bool = False
    marks: dict[date, Offsets] = Field(default_factory=dict)
    updated_at: str = Field(default_factory=utc_iso)

    def scan_start(self) -> Offsets | None:
        """Partition-wise minimum of the open dates' marks; None = scan from the earliest offset."""
        if not self.marks:
            return None
        start: Offsets = {}
        for offsets in self.marks.values():
            for partition, offset in offsets.items():
                start[partition] = min(offset, start.get(partition, offset))
        return start

    def mark_missing(self, dates: list[date], offsets: Mapping[int, int]) -> bool:
        """Give every date without a mark these offsets; True if anything changed."""
        changed = False
        for day in dates:
            if day not in self.marks and (self.closed_through is None or day > self.closed_through):
                self.marks[day] = dict(offsets)
                changed = True
        return changed

    def close_through(self, day: date) -> None:
        if self.closed_through is None or day > self.closed_through:
            self.closed_through = day
        self.marks = {d: m for d, m in self.marks.items() if d > day}

    def to_json(self) -> dict[str, Any]:
        self.updated_at = utc_iso()
        obj: dict[str, Any] = orjson.loads(self.model_dump_json())
        return obj


class CursorStore:
    """Cursors of every stream of this process (and other small per-key state, e.g. a mailbox's last unread
    count), loaded once at start and written through on each change."""

    def __init__(self, state: StateTopic) -> None:
        self._state = state
        self._values: dict[str, dict[str, Any]] = {}
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"CursorStore({self._state.topic!r}, keys={len(self._values)})"

    async def load(self) -> None:
        self._values = await self._state.load()

    def get(self, stream: str) -> StreamCursor:
        value = self._values.get(stream)
        if value is not None:
            try:
                return StreamCursor.model_validate(value)
            except ValueError as exc:
                log.warning("ignoring unreadable cursor %s: %s", stream, exc)
        return StreamCursor(stream=stream)

    def value(self, key: str) -> dict[str, Any] | None:
        return self._values.get(key)

    async def save(self, cursor: StreamCursor) -> None:
        await self.put(cursor.stream, cursor.to_json())

    async def put(self, key: str, value: dict[str, Any]) -> None:
        async with self._lock:
            await self._state.put(key, value)
            self._values[key] = value


async def rebuild_seen(
    reader: TopicReader, topic: str, corp_id: str, first_date: date, start: Offsets | None
) -> tuple[SeenSet, ScanResult]:
    """The seen-set of one corp's stream for dates >= `first_date`, from its output topic."""
    seen = SeenSet()
    needle = corp_id.encode()  # cheap prefilter before parsing; the parsed corp_id decides

    def on_record(_key: bytes | None, value: bytes | None) -> None:
        if value is None or needle not in value:
            return
        try:
            env = orjson.loads(value)
            day = date.fromisoformat(env["data"]["context"]["date"])
            if env["corp_id"] != corp_id or day < first_date:
                return
            seen.add(day, digest_of(env["id"]))
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return

    result = await reader.scan(topic, on_record, start)
    seen.compact()
    return seen, result
