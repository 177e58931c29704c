"""Approvals: an action that needs one is planned (reads only), parked with a signed expiring token and
announced by an operator alert; a signed link or an approver runs it, a rejection or the expiry skips it."""

from __future__ import annotations

from pipeline.actions._execution import Executor, transient
from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions._run import ActionFailed, ActionSkipped, ExmailApi, Outcome
from pipeline.actions.approval import ApprovalError, ApprovalSigner, approval_url
from pipeline.actions.errors import ActionStateError
from pipeline.actions.model import LedgerEntry, LedgerState, RecordStatus
from pipeline.envelope import utc_iso
from pipeline.exmail import ExmailError


class Approvals:
    """Asks for, verifies and records approvals. Without a signer (no actions.approval.secret) there are no
    links: only an authenticated approver can approve."""

    def __init__(
        self, journal: Journal, executor: Executor, locks: KeyedLocks, signer: ApprovalSigner | None
    ) -> None:
        self._journal = journal
        self._executor = executor
        self._locks = locks
        self._signer = signer

    async def ask(self, entry: LedgerEntry, client: ExmailApi, now: float) -> LedgerEntry:
        """Plan the action, park it until approved or expired, and alert the operators with the link."""
        journal = self._journal
        try:
            outcome = await self._executor.plan_outcome(entry, client, now)
        except ActionFailed as exc:
            return await journal.fail(entry, exc.reason, exc.errcode, now)
        except ActionSkipped as exc:
            return await journal.skip(entry, exc.reason, now)
        except ExmailError as exc:
            if not transient(exc):
                return await journal.fail(entry, str(exc), exc.errcode, now)
            outcome = Outcome(f"plan unavailable: {exc}")
        expires = now + journal.config.approval.ttl
        entry.state, entry.due_at, entry.detail = LedgerState.AWAITING_APPROVAL, expires, outcome.detail
        entry.approval.expires_at = expires
        journal.emit(entry, RecordStatus.AWAITING_APPROVAL, now)
        link = self.link(entry)
        extra = {"approve_command": f"pipeline actions approve {entry.id}", "expires_at": utc_iso(expires)}
        if link is not None:
            extra["approve_url"] = link
        journal.alert(
            entry,
            "action_approval_required",
            f"approve {entry.kind.value} for {entry.request.target}? {entry.request.reason}",
            now,
            **extra,
        )
        await journal.commit(entry)
        return entry

    def link(self, entry: LedgerEntry) -> str | None:
        """The signed approval URL of a pending approval (None without approval.base_url or a secret)."""
        base = self._journal.config.approval.base_url
        if self._signer is None or base is None or entry.approval.expires_at is None:
            return None
        return approval_url(base, entry.id, self._signer.token(entry.id, entry.approval.expires_at))

    def token(self, entry: LedgerEntry) -> str | None:
        if self._signer is None or entry.approval.expires_at is None:
            return None
        return self._signer.token(entry.id, entry.approval.expires_at)

    def verify(self, action_id: str, token: str) -> None:
        """Raises ApprovalError unless `token` approves `action_id` now."""
        if self._signer is None:
            raise ApprovalError("approval tokens are not configured (actions.approval.secret)")
        self._signer.verify(action_id, token, self._journal.now())

    async def approve(self, action_id: str, *, by: str, token: str | None = None) -> LedgerEntry:
        """Approve and run a pending action. With `token` (an approval link) it must verify; without, the
        caller is an authenticated approver (the HTTP layer checks the role)."""
        journal = self._journal
        async with self._locks.hold(action_id):
            entry = await journal.require(action_id)
            now = journal.now()
            if token is not None:
                self.verify(action_id, token)
            if entry.state is not LedgerState.AWAITING_APPROVAL:
                if entry.approval.approved_by is not None:
                    return entry
                raise ActionStateError(f"action {action_id} is {entry.state.value}, not awaiting approval")
            if entry.due_at is not None and now > entry.due_at:
                await journal.skip(entry, "the approval window expired", now)
                raise ApprovalError("the approval window of this action has expired")
            entry.approval.approved_by, entry.approval.approved_at = by, now
            entry.state, entry.due_at = LedgerState.PLANNED, None
            await journal.commit(entry)
            client = self._executor.client(entry.request.corp_id)
            if client is None:
                return await journal.no_client(entry, now)
            return await self._executor.execute(entry, client)

    async def reject(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        journal = self._journal
        async with self._locks.hold(action_id):
            entry = await journal.require(action_id)
            if entry.state is not LedgerState.AWAITING_APPROVAL:
                raise ActionStateError(f"action {action_id} is {entry.state.value}, not awaiting approval")
            entry.approval.rejected_by = by
            return await journal.skip(
                entry, f"rejected by {by}" + (f": {reason}" if reason else ""), journal.now()
            )
