"""Export and import as steps the CLI (or a web console) drives: read, plan (or resume), apply."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from pipeline.directory._formats import read_file, write_csv, write_json, write_xlsx
from pipeline.directory._journal import Journal
from pipeline.directory._live import LiveDirectory, read_live
from pipeline.directory.model import Rejected
from pipeline.directory.plan import Plan, make_plan
from pipeline.envelope import utc_iso
from pipeline.exmail import ExmailClient


class ImportRefused(ValueError):
    """The import cannot start (unreadable file, a journal of another file version, ...)."""


async def export_directory(client: ExmailClient, corp_id: str, groupids: Iterable[str]) -> dict[str, Any]:
    live = await read_live(client, groupids)
    return live.snapshot(corp_id, utc_iso())


def render(snapshot: dict[str, Any], fmt: str, *, lang: str = "en", encoding: str = "utf-8") -> bytes:
    if fmt == "json":
        return write_json(snapshot)
    if fmt == "xlsx":
        return write_xlsx(snapshot, lang)
    return write_csv(snapshot, lang, encoding)


def default_journal(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


@dataclass(slots=True)
class PreparedImport:
    plan: Plan
    journal: Journal
    live: LiveDirectory
    passwords: dict[str, SecretStr]
    resumed: bool
    notes: list[str] = field(default_factory=list)

    def earlier_rejections(self) -> list[Rejected]:
        """Rows a previous (interrupted) run of this plan already rejected."""
        out = []
        by_id = {op.id: op for op in self.plan.ops}
        for op_id, entry in self.journal.status.items():
            op = by_id.get(op_id)
            if op is not None and entry.get("status") == "rejected":
                out.append(Rejected(op.where, op.line, op.object, op.key, str(entry.get("reason", "")),
                                    entry.get("errcode"), entry.get("meaning"), entry.get("hint")))
        return out


async def prepare_import(client: ExmailClient, corp_id: str, path: Path, *, fmt: str | None = None,
                         encoding: str | None = None, delete: bool = False, journal_path: Path | None = None,
                         groups: Iterable[str] = (), discard_journal: bool = False) -> PreparedImport:
    """Read the file, then resume the journal's unfinished plan for this exact file or plan afresh."""
    try:
        result, raw = read_file(path, fmt, encoding)
    except (OSError, ValueError, LookupError) as exc:  # LookupError: an unknown --encoding
        raise ImportRefused(f"{path}: {exc}") from None
    except Exception as exc:  # openpyxl raises its own types for damaged workbooks
        raise ImportRefused(f"{path}: cannot read it as a spreadsheet ({type(exc).__name__}: {exc})") from None
    digest = hashlib.sha256(raw).hexdigest()
    journal = Journal.load(journal_path or default_journal(path))
    passwords = {row.key: row.password for row in result.data.users.values() if row.password is not None}
    known = set(groups)
    pending = journal.plan is not None and not journal.finished and not discard_journal
    if pending and journal.plan is not None:
        old = journal.plan
        if old.input_sha256 != digest or old.corp_id != corp_id or old.delete != delete:
            raise ImportRefused(
                f"{journal.path} holds an unfinished import ({journal.done_count()} of {len(old.ops)} ops done) "
                f"of another version of the file, corp or --delete setting: rerun the original command to finish "
                f"it, or pass --discard-journal to plan afresh from the live directory")
        live = await read_live(client, known | {op.key for op in old.ops if op.object == "group"})
        return PreparedImport(old, journal, live, passwords, True, result.notes)
    live = await read_live(client, known | set(result.data.groups))
    plan = make_plan(result.data, live, corp_id=corp_id, source=path.name, input_sha256=digest, delete=delete,
                     known_groups=known)
    plan.notes = [*result.notes, *plan.notes]
    return PreparedImport(plan, journal, live, passwords, False, plan.notes)
