"""The durable progress record of an import: one JSON-lines file next to the input (`<file>.journal`).

Line 1 is the plan (written atomically: temp file, fsync, rename); every later line is one op's status change
(`sent` before its first API call, then `done` or `rejected`), appended and fsynced before the next step, so
a SIGKILL at any point leaves a journal that says exactly which ops may have run. A torn last line (a kill
inside a write) is ignored. Passwords are never written (ops only say that the file gives one).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson

from pipeline.directory.plan import Plan

JOURNAL_FORMAT = "exmail-directory-journal/1"
TERMINAL = frozenset({"done", "rejected"})


class JournalError(ValueError):
    """The journal file is unusable (not a journal, or its plan line is damaged)."""


class Journal:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.plan: Plan | None = None
        self.status: dict[str, dict[str, Any]] = {}

    def __repr__(self) -> str:
        return f"Journal({str(self.path)!r})"

    @classmethod
    def load(cls, path: Path) -> Journal:
        """The journal at `path` (empty when there is none)."""
        journal = cls(path)
        if not path.exists():
            return journal
        lines = path.read_bytes().split(b"\n")
        try:
            head = orjson.loads(lines[0])
        except orjson.JSONDecodeError:
            raise JournalError(f"{path}: first line is not a plan; remove the file to start over") from None
        if not isinstance(head, dict) or head.get("format") != JOURNAL_FORMAT:
            raise JournalError(f"{path}: not an import journal; remove it or choose another --journal")
        journal.plan = Plan.from_dict(head["plan"])
        for line in lines[1:]:
            if not line.strip():
                continue
            try:
                entry = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue  # torn write at the moment of a kill
            if isinstance(entry, dict) and isinstance(entry.get("op"), str):
                journal.status[entry["op"]] = entry
        return journal

    def state(self, op_id: str) -> str:
        return str(self.status.get(op_id, {}).get("status", "pending"))

    @property
    def finished(self) -> bool:
        return self.plan is not None and all(self.state(op.id) in TERMINAL for op in self.plan.ops)

    def done_count(self) -> int:
        return 0 if self.plan is None else sum(self.state(op.id) in TERMINAL for op in self.plan.ops)

    def start(self, plan: Plan) -> None:
        """Replace the journal with a new plan (atomically)."""
        tmp = self.path.with_name(self.path.name + ".tmp")
        with open(tmp, "wb") as fh:
            fh.write(orjson.dumps({"format": JOURNAL_FORMAT, "plan": plan.to_dict()}) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)
        self.plan, self.status = plan, {}

    def mark(self, op_id: str, status: str, **info: Any) -> None:
        entry = {"op": op_id, "status": status, **info}
        with open(self.path, "ab") as fh:
            fh.write(orjson.dumps(entry) + b"\n")
            fh.flush()
            os.fsync(fh.fileno())
        self.status[op_id] = entry


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
