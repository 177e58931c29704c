"""Directory snapshot diffs: the kinds of change, department paths."""

from __future__ import annotations

from typing import Any

from pipeline.sources._diff import department_paths, diff_snapshots


def test_diff_snapshots_kinds() -> None:
    before: dict[str, dict[str, Any]] = {"a": {"name": "A", "enable": 1}, "b": {"name": "B", "enable": "1"},
                                         "c": {"name": "C"}}
    after: dict[str, dict[str, Any]] = {"a": {"name": "A2", "enable": 1}, "b": {"name": "B", "enable": "0"},
                                        "d": {"name": "D"}}
    changes = {c.object_id: c for c in diff_snapshots(before, after, track_enable=True)}
    assert changes["a"].change == "updated" and changes["a"].changed_fields == ("name",)
    assert changes["b"].change == "disabled" and changes["b"].changed_fields == ("enable",)
    assert changes["c"].change == "deleted" and changes["c"].after is None
    assert changes["d"].change == "created" and changes["d"].before is None
    back = {c.object_id: c for c in diff_snapshots(after, before, track_enable=True)}
    assert back["b"].change == "enabled"
    assert diff_snapshots(before, before) == []


def test_department_paths() -> None:
    depts = {"1": {"name": "Acme", "parentid": 0}, "10": {"name": "R&D", "parentid": 1},
             "11": {"name": "Mail team", "parentid": 10}}
    assert department_paths(depts) == {"1": "Acme", "10": "R&D", "11": "R&D/Mail team"}
