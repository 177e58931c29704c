"""Directory poller: periodic snapshots of departments, users (user/list with fetch_child) and mail groups;
the differences between consecutive snapshots become events in exmail.raw.directory.

The last snapshot is kept per object in the compacted topic exmail.state.directory (key
"<corp_id>/<user|department|group>/<id>", value the object, tombstone on deletion), so a restart diffs against
what was seen before it and other components (enrichment) can read the current directory from that topic.
User objects carry `department_paths` (e.g. ["R&D/Mail team"]) and departments their `path`.

Mail groups cannot be listed through the API; the poller snapshots the groups named in the config, the ones it
already knows, and those the operation log mentions (add/edit mail group operands).

Event ids are fingerprint("directory", corp_id, object_type, object_id, change, before, after): the same
transition seen twice (e.g. events delivered but the state write lost in a crash) has the same id, so
downstream stores it once. The first snapshot of a corp is a silent baseline unless
`poll.directory_baseline_events` is set.
"""

from __future__ import annotations

import logging
from typing import Any

from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.exmail import NotFound
from pipeline.records import RAW_SCHEMAS
from pipeline.sources._diff import Change, department_paths, diff_snapshots
from pipeline.sources._emit import Outgoing
from pipeline.sources._runtime import CorpRuntime, Poller, Runtime
from pipeline.sources.logs import raw_records

log = logging.getLogger(__name__)

OBJECT_TYPES = ("department", "user", "group")
ROOT_DEPARTMENT = 1


class DirectoryPoller(Poller):
    stream = "directory"

    def __init__(self, rt: Runtime, corp: CorpRuntime, interval: float | None = None) -> None:
        super().__init__(rt, corp, interval if interval is not None else rt.poll.intervals.of("directory"))
        self.topic = rt.names.raw("directory")
        self.has_baseline = False

    def _state_key(self, object_type: str, object_id: str) -> str:
        return f"{self.corp_id}/{object_type}/{object_id}"

    def _current(self, object_type: str) -> dict[str, dict[str, Any]]:
        view = self.corp.directory
        return {"user": view.users, "department": view.departments, "group": view.groups}[object_type]

    async def prepare(self) -> None:
        """Load the last snapshot from exmail.state.directory."""
        prefix = f"{self.corp_id}/"
        state = await self.rt.state.load(prefix)
        loaded = {t: {} for t in OBJECT_TYPES}  # type: dict[str, dict[str, dict[str, Any]]]
        for key, value in state.items():
            parts = key[len(prefix):].split("/", 1)
            if len(parts) == 2 and parts[0] in loaded:
                loaded[parts[0]][parts[1]] = value
        view = self.corp.directory
        view.users, view.departments, view.groups = loaded["user"], loaded["department"], loaded["group"]
        self.has_baseline = any(loaded.values())
        if self.has_baseline:
            view.ready.set()
            log.info("%s: directory state loaded (%d users, %d departments, %d groups)", self.corp_id,
                     len(view.users), len(view.departments), len(view.groups))

    async def snapshot(self) -> dict[str, dict[str, dict[str, Any]]]:
        client = self.corp.client
        departments = {str(d.id): raw_records(d) for d in await client.department_list()}
        paths = department_paths(departments, str(ROOT_DEPARTMENT))
        for did, dept in departments.items():
            dept["path"] = paths.get(did, "")
        users: dict[str, dict[str, Any]] = {}
        for user in await client.user_list(ROOT_DEPARTMENT, fetch_child=True):
            obj = raw_records(user)
            obj["department_paths"] = [paths.get(str(d), str(d)) for d in user.department]
            users[user.userid] = obj
        groups: dict[str, dict[str, Any]] = {}
        policy = self.corp.config.policy
        wanted = set(self.corp.config.groups) | self.corp.group_hints | set(self.corp.directory.groups) \
            | set(policy.groups if policy else ())
        for gid in sorted(wanted):
            try:
                group = await client.group_get(gid)
            except NotFound:
                continue
            groups[group.groupid] = raw_records(group)
        return {"department": departments, "user": users, "group": groups}

    def events(self, object_type: str, changes: list[Change], snapshot_at: str) -> list[Outgoing]:
        out = []
        for c in changes:
            data = {
                "object_type": object_type, "change": c.change, "object_id": c.object_id, "before": c.before,
                "after": c.after, "changed_fields": list(c.changed_fields), "snapshot_at": snapshot_at,
            }
            env = Envelope(
                schema=RAW_SCHEMAS["directory"],
                id=fingerprint("directory", self.corp_id, object_type, c.object_id, c.change, c.before, c.after),
                corp_id=self.corp_id, source="exmail-ingest/directory", occurred_at=snapshot_at, data=data,
            )
            out.append(Outgoing(self.topic, record_key(self.corp_id, c.object_id), env))
        return out

    async def poll_once(self) -> None:
        snapshot_at = utc_iso(self.rt.clock.now())
        snap = await self.snapshot()
        items: list[Outgoing] = []
        writes: list[tuple[str, dict[str, Any] | None]] = []
        for object_type in OBJECT_TYPES:
            changes = diff_snapshots(self._current(object_type), snap[object_type],
                                     track_enable=object_type == "user")
            if self.has_baseline or self.rt.poll.directory_baseline_events:
                items.extend(self.events(object_type, changes, snapshot_at))
            writes.extend((self._state_key(object_type, c.object_id), c.after) for c in changes)
        await self.rt.emitter.deliver_all(items, corp=self.corp_id, stream=self.stream)
        await self.rt.state.put_many(writes)
        view = self.corp.directory
        view.departments, view.users, view.groups = snap["department"], snap["user"], snap["group"]
        self.has_baseline = True
        view.ready.set()
        log.info("%s: directory snapshot: %d changes, %d events", self.corp_id, len(writes), len(items))

