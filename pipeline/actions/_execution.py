"""Running an action against Exmail: dry runs (reads only, the plan recorded), executions with retries of
transient failures, resumption after a crash, and undo. The caller holds the action's lock."""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions._procedures import Procedures
from pipeline.actions._rails import limit_reason
from pipeline.actions._run import ActionFailed, ActionSkipped, ExmailApi, Outcome, Run
from pipeline.actions._schedule import Scheduler
from pipeline.actions.channels import DeliveryFailed
from pipeline.actions.config import ActionKind
from pipeline.actions.errors import ActionInputError, ActionStateError
from pipeline.actions.model import ActionRequest, CallRecord, LedgerEntry, LedgerState, RecordStatus
from pipeline.backoff import ceiling
from pipeline.envelope import utc_iso
from pipeline.exmail import AuthError, ExmailError


def transient(exc: Exception) -> bool:
    """Worth another attempt later: a failed password delivery, a token problem, a retryable Exmail error."""
    return isinstance(exc, DeliveryFailed | AuthError) or (isinstance(exc, ExmailError) and exc.retryable)


class Executor:
    """Drives one entry from planned to done / failed / scheduled-for-retry, or from undoing to undone."""

    def __init__(
        self,
        journal: Journal,
        clients: Mapping[str, ExmailApi],
        procedures: Procedures,
        scheduler: Scheduler,
        locks: KeyedLocks,
        running: set[str],
    ) -> None:
        self._journal = journal
        self._clients = clients
        self._procedures = procedures
        self._scheduler = scheduler
        self._locks = locks
        self._running = running

    def client(self, corp_id: str) -> ExmailApi | None:
        return self._clients.get(corp_id)

    def _run(
        self,
        entry: LedgerEntry,
        client: ExmailApi,
        *,
        dry_run: bool,
        now: float,
        calls: list[CallRecord] | None = None,
    ) -> Run:
        async def persist() -> None:
            await self._journal.save(entry)

        return Run(entry, client, dry_run=dry_run, now=now, persist=persist, calls=calls)

    async def plan_outcome(self, entry: LedgerEntry, client: ExmailApi, now: float) -> Outcome:
        """Run the procedure with reads only; the writes it would make are recorded as planned calls."""
        return await self._procedures.run(self._run(entry, client, dry_run=True, now=now))

    async def preview(self, request: ActionRequest) -> list[CallRecord]:
        """The calls `request` would make now (reads run, writes are only listed); nothing is persisted."""
        client = self.client(request.corp_id)
        if client is None:
            raise ActionInputError(f"no Exmail client is configured for corp {request.corp_id}")
        now = self._journal.now()
        entry = LedgerEntry(
            request=request, state=LedgerState.DRY_RUN, dry_run=True, created_at=now, updated_at=now
        )

        async def persist() -> None:
            return None

        await self._procedures.run(Run(entry, client, dry_run=True, now=now, persist=persist))
        return entry.calls

    async def dry_run(self, entry: LedgerEntry, client: ExmailApi, now: float) -> LedgerEntry:
        try:
            outcome = await self.plan_outcome(entry, client, now)
        except ActionFailed as exc:
            entry.result, entry.error, entry.errcode = "would_fail", exc.reason, exc.errcode
        except ActionSkipped as exc:
            entry.result, entry.detail = "unchanged", exc.reason
        except ExmailError as exc:
            entry.result, entry.error, entry.errcode = "would_fail", str(exc), exc.errcode
        else:
            planned = any(c.kind != "read" and c.outcome == "planned" for c in entry.calls)
            entry.result, entry.detail = ("would_change" if planned else "unchanged"), outcome.detail
        entry.state = LedgerState.DRY_RUN
        self._journal.emit(entry, RecordStatus.DRY_RUN, now)
        await self._journal.commit(entry)
        return entry

    async def execute(self, entry: LedgerEntry, client: ExmailApi) -> LedgerEntry:
        """Run (or resume) the action; the caller holds its lock."""
        journal, config = self._journal, self._journal.config
        now = journal.now()
        retry = config.retry
        if entry.attempts >= retry.max_attempts:
            return await journal.fail(
                entry,
                f"gave up after {entry.attempts} attempts: {entry.error or entry.detail}",
                entry.errcode,
                now,
            )
        limited = await limit_reason(config, journal.ledger, entry, now, reserve=True)
        if limited is not None:
            if entry.request.trigger.type == "schedule":
                hits = await journal.ledger.window(entry.request.corp_id, entry.kind, now, config.limit_window)
                entry.state = LedgerState.SCHEDULED
                entry.due_at = min(t for t, _ in hits) + config.limit_window if hits else now + 60.0
                entry.detail = f"postponed: {limited}"
                await journal.commit(entry)
                return entry
            return await journal.skip(entry, limited, now, alert=True)
        entry.state = LedgerState.EXECUTING
        entry.attempts += 1
        entry.due_at = None
        entry.calls = [c for c in entry.calls if c.outcome != "planned"]
        for call in entry.calls:
            if call.outcome == "sent":
                call.outcome = "unknown"
        await journal.commit(entry)
        self._running.add(entry.id)
        try:
            outcome = await self._procedures.run(self._run(entry, client, dry_run=False, now=now))
            await self._after_success(entry, now)
        except ActionFailed as exc:
            return await journal.fail(entry, exc.reason, exc.errcode, journal.now())
        except ActionSkipped as exc:
            return await journal.skip(entry, exc.reason, journal.now())
        except (ExmailError, DeliveryFailed) as exc:
            errcode = exc.errcode if isinstance(exc, ExmailError) else None
            if not transient(exc):
                return await journal.fail(entry, str(exc), errcode, journal.now())
            if entry.attempts >= retry.max_attempts:
                return await journal.fail(
                    entry, f"gave up after {entry.attempts} attempts: {exc}", errcode, journal.now()
                )
            delay = ceiling(entry.attempts, retry.backoff, retry.max_backoff)  # no jitter: a due time in the ledger
            entry.state, entry.due_at = LedgerState.SCHEDULED, journal.now() + delay
            entry.error, entry.errcode = (
                f"attempt {entry.attempts} failed, retrying in {int(delay)}s: {exc}",
                errcode,
            )
            await journal.commit(entry)
            return entry
        finally:
            self._running.discard(entry.id)
        changed = any(c.kind != "read" and c.outcome in ("ok", "unknown") for c in entry.calls)
        entry.state, entry.result, entry.detail = (
            LedgerState.DONE,
            ("changed" if changed else "unchanged"),
            outcome.detail,
        )
        entry.error = entry.errcode = None
        if entry.kind is ActionKind.LEAVER and not entry.progress.get("absent"):
            delete = await journal.ledger.get(self._scheduler.delete_request(entry, now).id)
            if delete is not None and delete.due_at is not None:
                entry.detail += f"; delete scheduled at {utc_iso(delete.due_at)}"
        journal.emit(entry, RecordStatus.EXECUTED, journal.now())
        await journal.commit(entry)
        if entry.kind is ActionKind.LEAVER and config.hr.leaver_grace <= 0:
            await self.resume(self._scheduler.delete_request(entry, now).id, journal.now())
        return entry

    async def _after_success(self, entry: LedgerEntry, now: float) -> None:
        """Follow-ups that must be durable before the action counts as done."""
        if entry.kind is ActionKind.LEAVER and not entry.progress.get("absent"):
            await self._scheduler.schedule_delete(entry, now)
        if entry.kind is ActionKind.JOINER:
            await self._scheduler.cancel_deletes(entry)

    async def resume(self, action_id: str, now: float) -> LedgerEntry | None:
        """Take up `action_id` where it stands: flush its outbox, expire a stale approval, run it when it is
        due, finish an interrupted undo. Takes the action's lock."""
        journal = self._journal
        async with self._locks.hold(action_id):
            entry = await journal.ledger.get(action_id)
            if entry is None or not entry.pending:
                return entry
            await journal.flush(entry)
            state = entry.state
            timed_out = entry.due_at is not None and entry.due_at <= now
            if state is LedgerState.AWAITING_APPROVAL:
                if timed_out:
                    return await journal.skip(entry, "the approval window expired", journal.now())
                return entry
            if state is LedgerState.SCHEDULED and not timed_out:
                return entry
            client = self.client(entry.request.corp_id)
            if client is None:
                if state in (LedgerState.UNDOING,):
                    return entry
                return await journal.no_client(entry, journal.now())
            if state is LedgerState.UNDOING:
                return await self.undo(entry, client)
            if state in (LedgerState.PLANNED, LedgerState.EXECUTING, LedgerState.SCHEDULED):
                return await self.execute(entry, client)
            return entry

    async def undo(self, entry: LedgerEntry, client: ExmailApi) -> LedgerEntry:
        """Reverse what `entry` recorded (its state is UNDOING); raises ActionStateError when it cannot."""
        journal = self._journal
        assert entry.undo is not None
        now = journal.now()
        for call in entry.undo.calls:
            if call.outcome == "sent":
                call.outcome = "unknown"
        run = self._run(entry, client, dry_run=False, now=now, calls=entry.undo.calls)
        try:
            outcome = await self._procedures.undo(run)
        except (ActionFailed, ExmailError) as exc:
            reason = exc.reason if isinstance(exc, ActionFailed) else str(exc)
            if isinstance(exc, ExmailError) and transient(exc):
                raise ActionStateError(f"undo interrupted, try again: {reason}") from None
            entry.state, entry.undo = LedgerState.DONE, None
            entry.detail = f"{entry.detail}; undo failed: {reason}"
            await journal.commit(entry)
            raise ActionStateError(f"undo failed: {reason}") from None
        entry.undo.finished_at = journal.now()
        entry.state = LedgerState.UNDONE
        entry.detail = f"{entry.detail}; undone: {outcome.detail}"
        journal.emit(entry, RecordStatus.UNDONE, journal.now(), calls=entry.undo.calls)
        await journal.commit(entry)
        return entry
