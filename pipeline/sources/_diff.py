"""Snapshot diffs: what changed between two maps of objects (directory objects, user options)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.exmail.models import as_int


@dataclass(frozen=True, slots=True)
class Change:
    object_id: str
    change: str  # created | updated | deleted | disabled | enabled
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    changed_fields: tuple[str, ...]


def changed_fields(before: Mapping[str, Any], after: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k)))


def _enabled(obj: Mapping[str, Any]) -> bool | None:
    value = obj.get("enable")
    if value is None or value == "":
        return None
    try:
        return as_int(value) != 0
    except ValueError:
        return None


def diff_snapshots(
    before: Mapping[str, dict[str, Any]], after: Mapping[str, dict[str, Any]], *, track_enable: bool = False
) -> list[Change]:
    """Changes from `before` to `after`, ordered by object id then kind (deterministic).

    With `track_enable`, an `enable` flip is reported as disabled/enabled (with every changed field listed)
    instead of updated."""
    changes: list[Change] = []
    for oid in sorted(set(before) | set(after)):
        old, new = before.get(oid), after.get(oid)
        if old is None and new is not None:
            changes.append(Change(oid, "created", None, new, tuple(sorted(new))))
        elif old is not None and new is None:
            changes.append(Change(oid, "deleted", old, None, ()))
        elif old is not None and new is not None:
            fields = changed_fields(old, new)
            if not fields:
                continue
            kind = "updated"
            if track_enable and "enable" in fields:
                was, now = _enabled(old), _enabled(new)
                if was is not None and now is not None and was != now:
                    kind = "enabled" if now else "disabled"
            changes.append(Change(oid, kind, old, new, fields))
    return changes


def department_paths(departments: Mapping[str, Mapping[str, Any]], root_id: str = "1") -> dict[str, str]:
    """Department id -> path from the top level under the root joined with '/', e.g. "R&D/Mail team".
    The root's own path is its name (the company)."""
    paths: dict[str, str] = {}
    for did in departments:
        if did == root_id:
            paths[did] = str(departments[did].get("name") or "")
            continue
        names: list[str] = []
        current: str | None = did
        guard = 0
        while current is not None and current != root_id and current in departments and guard < 64:
            node = departments[current]
            names.append(str(node.get("name") or ""))
            parent = node.get("parentid")
            current = str(parent) if parent is not None else None
            guard += 1
        paths[did] = "/".join(reversed(names))
    return paths
