"""Normalize's copy of the user directory, for enrichment (full name, departments, enabled flag).

The directory poller keeps the last snapshot of every object in the compacted topic exmail.state.directory
(key "<corp_id>/user/<userid>", value the user object, a tombstone when deleted), written right after the
change events. Each normalize process rebuilds the users from that topic at start (pipeline/kafka/reader.py's
scan) and then follows it (TopicTail), applying what arrived before every batch; a worker started before the
first directory poll created the topic follows it once it exists.

Why a whole copy per process rather than a table co-partitioned with the raw topics (as the faust table was):
the state topic has one partition and is keyed by object, the batch consumers use cooperative-sticky
assignment (which does not co-assign partitions of different topics), and the copy is small: one entry per
user, a few hundred bytes (about 40 MB for 100,000 users), rebuilt in about a second per 100,000 records.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, cast

import orjson

from pipeline.kafka.reader import TopicReader, TopicTail
from pipeline.transforms.normalize import DirectoryUser

log = logging.getLogger(__name__)


def user_entry(obj: Any) -> DirectoryUser | None:
    """The fields enrichment uses, from a directory user object (state value or change `after`)."""
    if not isinstance(obj, dict):
        return None
    return cast(DirectoryUser, {
        "name": obj.get("name"),
        "department_ids": obj.get("department_ids", obj.get("department") or []),
        "department_paths": obj.get("department_paths") or [],
        "enable": obj.get("enable"),
    })


class DirectoryCopy:
    """DirectoryLookup over an in-memory map "corp/userid" (lower case) -> DirectoryUser."""

    def __init__(self) -> None:
        self.users: dict[str, DirectoryUser] = {}
        self.applied = 0

    def __repr__(self) -> str:
        return f"DirectoryCopy(users={len(self.users)})"

    def user(self, corp_id: str, userid: str) -> DirectoryUser | None:
        return self.users.get(f"{corp_id}/{userid.lower()}")

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """One exmail.state.directory record; other object types and unreadable values are skipped."""
        if key is None:
            return
        corp, sep, rest = key.decode("utf-8", "replace").partition("/")
        kind, sep2, userid = rest.partition("/")
        if not (sep and sep2 and kind == "user" and userid):
            return
        name = f"{corp}/{userid.lower()}"
        self.applied += 1
        if value is None:
            self.users.pop(name, None)
            return
        try:
            entry = user_entry(orjson.loads(value))
        except orjson.JSONDecodeError:
            return
        if entry is None:
            self.users.pop(name, None)
        else:
            self.users[name] = entry


class DirectoryFeed:
    """Rebuild a DirectoryCopy from the state topic, then keep it current with `catch_up()`."""

    def __init__(self, reader: TopicReader, bootstrap: str, topic: str, *, recheck_seconds: float = 5.0) -> None:
        self.copy = DirectoryCopy()
        self._recheck = recheck_seconds  # how often a directory topic that does not exist yet is looked for
        self._reader = reader
        self._bootstrap = bootstrap
        self.topic = topic
        self._tail: TopicTail | None = None

    async def load(self) -> None:
        result = await self._reader.scan(self.topic, self.copy.apply)
        self._tail = await asyncio.to_thread(TopicTail, self._bootstrap, self.topic, result.end,
                                             recheck_seconds=self._recheck)
        log.info("normalize: directory copy rebuilt from %s (%d users, %d records)", self.topic,
                 len(self.copy.users), result.records)

    def catch_up(self) -> int:
        """Apply what arrived since the last call (never waits); returns how many records."""
        if self._tail is None:
            return 0
        records = self._tail.poll()
        for key, value in records:
            self.copy.apply(key, value)
        return len(records)

    def close(self) -> None:
        if self._tail is not None:
            self._tail.close()
            self._tail = None
