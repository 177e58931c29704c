"""Work that waits for a time: the delete that follows a leaver after `hr.leaver_grace` (scheduled, cancelled
by a re-join or an undo), and the list of entries whose time has come (`due`)."""

from __future__ import annotations

from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions.config import ActionKind
from pipeline.actions.errors import ActionStateError
from pipeline.actions.model import ActionRequest, LedgerEntry, LedgerState, RecordStatus, Trigger


class Scheduler:
    """Leaver deletes and due work. `running` holds the ids being executed right now (never listed as due)."""

    def __init__(self, journal: Journal, locks: KeyedLocks, running: set[str]) -> None:
        self._journal = journal
        self._locks = locks
        self._running = running

    async def due(self, now: float) -> list[LedgerEntry]:
        """Entries that need work at `now`: interrupted actions, scheduled ones (leaver deletes, retries,
        future effective dates) whose time has come, expired approvals, unflushed records."""
        entries = await self._journal.ledger.due(now)
        return [e for e in entries if e.id not in self._running]

    def delete_request(self, leaver: LedgerEntry, now: float) -> ActionRequest:
        """The delete that follows `leaver` (deterministic: the same leaver always gives the same id)."""
        grace = self._journal.config.hr.leaver_grace
        return ActionRequest.build(
            kind=ActionKind.LEAVER_DELETE,
            corp_id=leaver.request.corp_id,
            target=leaver.request.target,
            requested_by="schedule:actions.hr.leaver_grace",
            reason=f"delete {grace / 86400:g} days after the leaver action {leaver.id}",
            trigger=Trigger(type="schedule", ref=leaver.id, id=leaver.request.trigger.id),
            params={"leaver_action": leaver.id, "employee_id": leaver.request.params.get("employee_id")},
            requested_at=now,
            not_before=now + grace,
        )

    async def schedule_delete(self, leaver: LedgerEntry, now: float) -> None:
        request = self.delete_request(leaver, now)
        ledger = self._journal.ledger
        if await ledger.get(request.id) is not None:
            return
        entry = LedgerEntry(
            request=request,
            state=LedgerState.SCHEDULED,
            dry_run=False,
            due_at=request.not_before,
            created_at=now,
            updated_at=now,
        )
        self._journal.emit(entry, RecordStatus.REQUESTED, now)
        await self._journal.commit(entry)

    async def cancel_deletes(self, joiner: LedgerEntry) -> None:
        """A re-joined employee keeps the account: skip the scheduled deletes of the same target."""
        journal = self._journal
        for pending in await journal.ledger.pending():
            r = pending.request
            if (
                r.kind is ActionKind.LEAVER_DELETE
                and pending.state is LedgerState.SCHEDULED
                and r.corp_id == joiner.request.corp_id
                and r.target == joiner.request.target
            ):
                async with self._locks.hold(pending.id):
                    fresh = await journal.ledger.get(pending.id)
                    if fresh is not None and fresh.state is LedgerState.SCHEDULED:
                        await journal.skip(
                            fresh, f"cancelled: the employee joined again (action {joiner.id})", journal.now()
                        )

    async def cancel_leaver_delete(self, leaver: LedgerEntry, by: str) -> None:
        """Undoing a leaver cancels its delete; raises ActionStateError when the delete ran or is running."""
        journal = self._journal
        for pending in await journal.ledger.pending():
            r = pending.request
            if r.kind is ActionKind.LEAVER_DELETE and r.params.get("leaver_action") == leaver.id:
                if pending.state is not LedgerState.SCHEDULED:
                    raise ActionStateError(f"the delete of {r.target} is {pending.state.value}; cannot undo")
                async with self._locks.hold(pending.id):
                    fresh = await journal.ledger.get(pending.id)
                    if fresh is not None and fresh.state is LedgerState.SCHEDULED:
                        await journal.skip(fresh, f"cancelled: leaver action undone by {by}", journal.now())
                return
        deleted = [
            e
            for e in await journal.ledger.recent(journal.config.recent_limit)
            if e.kind is ActionKind.LEAVER_DELETE
            and e.request.params.get("leaver_action") == leaver.id
            and e.state is LedgerState.DONE
            and e.result == "changed"
        ]
        if deleted:
            raise ActionStateError(
                f"{leaver.request.target} was already deleted ({deleted[0].id}); restore it "
                "in the admin console"
            )
