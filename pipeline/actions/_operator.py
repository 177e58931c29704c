"""What operators ask of the service through the HTTP API and `pipeline actions`: look up, list, undo, and
preview a request. Approve and reject live with the approvals."""

from __future__ import annotations

from pipeline.actions._execution import Executor
from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions._schedule import Scheduler
from pipeline.actions.config import ActionKind
from pipeline.actions.errors import ActionStateError
from pipeline.actions.model import LedgerEntry, LedgerState, UndoInfo


def not_undoable(entry: LedgerEntry) -> str:
    """Why `entry` cannot be undone (for an entry whose `undoable` is false)."""
    if entry.dry_run:
        return f"action {entry.id} was a dry run; nothing was changed"
    if entry.state is not LedgerState.DONE:
        return f"action {entry.id} is {entry.state.value}; only executed actions can be undone"
    if entry.result != "changed":
        return f"action {entry.id} changed nothing"
    return f"{entry.kind.value} actions cannot be undone through the API"


class Operator:
    """The operator commands other than approvals."""

    def __init__(self, journal: Journal, executor: Executor, scheduler: Scheduler, locks: KeyedLocks) -> None:
        self._journal = journal
        self._executor = executor
        self._scheduler = scheduler
        self._locks = locks

    async def list_actions(self, state: str = "pending", limit: int = 50) -> list[LedgerEntry]:
        """ "pending" (approvals, schedules, interrupted), "approvals", or "recent" (newest first)."""
        ledger = self._journal.ledger
        if state == "recent":
            return await ledger.recent(limit)
        entries = await ledger.pending()
        if state == "approvals":
            entries = [e for e in entries if e.state is LedgerState.AWAITING_APPROVAL]
        elif state != "pending":
            raise ValueError("state must be pending, approvals or recent")
        return sorted(entries, key=lambda e: (e.due_at or 0.0, e.created_at))[:limit]

    async def undo(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        """Reverse an executed action from what it recorded (enable again, restore options, groups,
        department). Undoing a leaver also cancels its scheduled delete."""
        journal = self._journal
        async with self._locks.hold(action_id):
            entry = await journal.require(action_id)
            if entry.state is LedgerState.UNDONE:
                return entry
            if entry.state is not LedgerState.UNDOING:
                if not entry.undoable:
                    raise ActionStateError(not_undoable(entry))
                if entry.kind is ActionKind.LEAVER:
                    await self._scheduler.cancel_leaver_delete(entry, by)
                entry.undo = UndoInfo(requested_by=by, reason=reason, requested_at=journal.now())
                entry.state = LedgerState.UNDOING
                await journal.commit(entry)
            client = self._executor.client(entry.request.corp_id)
            if client is None:
                raise ActionStateError(f"no Exmail client is configured for corp {entry.request.corp_id}")
            return await self._executor.undo(entry, client)
