"""The actions service: HR lifecycle events, alerts that name an action, and policy drift in; Exmail changes,
exmail.actions records and operator alerts out. Plain async methods for a faust agent (or anything) to call.

Every request becomes a ledger entry keyed by its deterministic id, so a replayed trigger finds its entry and
changes nothing. Safety rails, in order: administrators and allow-listed accounts are never touched; dry
runs only read and record the plan; the hourly limit of distinct accounts per kind skips (or, for scheduled
deletes, postpones) the excess; an approval, when required, must arrive (signed link or operator) before
the action runs. Records and alerts go through an outbox in the entry, so a crash never loses one.

This class is a facade: each responsibility lives in its own module (intake: _intake.py, rails: _rails.py,
approvals: _approvals.py, execution and resumption: _execution.py, schedules: _schedule.py, operator
commands: _operator.py, records and outbox: _journal.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from pipeline.actions._approvals import Approvals
from pipeline.actions._departments import DepartmentResolver
from pipeline.actions._execution import Executor
from pipeline.actions._intake import Intake, Record
from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions._operator import Operator
from pipeline.actions._procedures import GroupSource, Procedures
from pipeline.actions._rails import Rails
from pipeline.actions._run import ExmailApi
from pipeline.actions._schedule import Scheduler
from pipeline.actions.approval import ApprovalSigner
from pipeline.actions.channels import SecretChannel, build_channel
from pipeline.actions.config import ActionsConfig
from pipeline.actions.errors import ActionInputError, ActionNotFound, ActionStateError
from pipeline.actions.ledger import Ledger, LedgerStore
from pipeline.actions.model import ActionRequest, CallRecord, LedgerEntry
from pipeline.actions.outputs import ActionOutput
from pipeline.secrets import resolve_secret

__all__ = ["ActionInputError", "ActionNotFound", "ActionService", "ActionStateError"]

_UNSET: Any = object()


class ActionService:
    """Build once per worker; call `handle_*` per record, `run_due()` on a timer, `resume()` at start."""

    def __init__(
        self,
        config: ActionsConfig,
        clients: Mapping[str, ExmailApi],
        ledger: LedgerStore,
        output: ActionOutput,
        *,
        channel: SecretChannel | None = _UNSET,
        group_source: GroupSource | None = None,
        clock: Callable[[], float] = time.time,
        approval_secret: str | None = None,
        api_token: str | None = None,
        resolve: Callable[[str], str] = resolve_secret,
    ) -> None:
        self.config = config
        self._clients = dict(clients)
        self.ledger = Ledger(ledger, recent_limit=config.recent_limit)
        self._clock = clock
        self._channel = build_channel(config.hr.delivery, resolve) if channel is _UNSET else channel
        secret = approval_secret or (resolve(config.approval.secret) if config.approval.secret else None)
        self.api_token = api_token or (resolve(config.api_token) if config.api_token else None)
        procedures = Procedures(config, DepartmentResolver(config.hr.department_cache, clock), self._channel,
                                group_source)
        self._locks = KeyedLocks()
        running: set[str] = set()
        journal = Journal(config, self.ledger, output, clock)
        self._journal = journal
        self._scheduler = Scheduler(journal, self._locks, running)
        self._executor = Executor(journal, self._clients, procedures, self._scheduler, self._locks, running)
        self._approvals = Approvals(journal, self._executor, self._locks,
                                    ApprovalSigner(secret) if secret else None)
        self._intake = Intake(journal, self._executor, self._approvals, self._locks)
        self._operator = Operator(journal, self._executor, self._scheduler, self._locks)

    def __repr__(self) -> str:
        return f"ActionService(corps={sorted(self._clients)}, channel={self._channel!r})"

    # triggers (intake)

    async def handle_hr(self, record: Record) -> LedgerEntry | None:
        """An hr.lifecycle/1 record -> joiner / mover / leaver action (None when HR actions are disabled)."""
        return await self._intake.handle_hr(record)

    async def handle_alert(self, record: Record) -> LedgerEntry | None:
        """An exmail.alert/1 record whose `action` names a security action. Resolved alerts and alerts
        without an action give None."""
        return await self._intake.handle_alert(record)

    async def handle_options(self, record: Record) -> LedgerEntry | None:
        """An exmail.raw.options/1 record: re-apply the desired values of drifted options when
        actions.drift.remediate is on (None otherwise, or when nothing drifted)."""
        return await self._intake.handle_options(record)

    async def submit(
        self,
        request: ActionRequest,
        *,
        dry_run: bool,
        approval: bool = False,
        allow_list: bool = True,
        protect_admins: bool = True,
    ) -> LedgerEntry:
        """Accept a request through the rails; returns its ledger entry (replays return the known entry)."""
        rails = Rails(dry_run=dry_run, approval=approval, allow_list=allow_list, protect_admins=protect_admins)
        return await self._intake.submit(request, rails)

    # due work (scheduling)

    async def due(self, now: float | None = None) -> list[LedgerEntry]:
        """Entries that need work now: interrupted actions, scheduled ones (leaver deletes, retries, future
        effective dates) whose time has come, expired approvals, unflushed records."""
        return await self._scheduler.due(self._clock() if now is None else now)

    async def run_due(self, now: float | None = None) -> list[LedgerEntry]:
        """Do what `due()` lists. Call it at start (resume after a crash) and then periodically."""
        at = self._clock() if now is None else now
        done = []
        for entry in await self._scheduler.due(at):
            result = await self._executor.resume(entry.id, at)
            if result is not None:
                done.append(result)
        return done

    resume = run_due

    # operator API

    async def get(self, action_id: str) -> LedgerEntry:
        """The entry of `action_id`; raises ActionNotFound."""
        return await self._journal.require(action_id)

    async def list_actions(self, state: str = "pending", limit: int = 50) -> list[LedgerEntry]:
        """ "pending" (approvals, schedules, interrupted), "approvals", or "recent" (newest first)."""
        return await self._operator.list_actions(state, limit)

    async def approve(self, action_id: str, *, by: str, token: str | None = None) -> LedgerEntry:
        """Approve and run a pending action. With `token` (an approval link) it must verify; without, the
        caller is an authenticated approver (the HTTP layer checks the role)."""
        return await self._approvals.approve(action_id, by=by, token=token)

    async def reject(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        return await self._approvals.reject(action_id, by=by, reason=reason)

    async def undo(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        """Reverse an executed action from what it recorded; undoing a leaver cancels its scheduled delete."""
        return await self._operator.undo(action_id, by=by, reason=reason)

    async def plan(self, request: ActionRequest) -> list[CallRecord]:
        """The calls `request` would make now (reads run, writes are only listed)."""
        return await self._executor.preview(request)

    # approval links

    def approval_link(self, entry: LedgerEntry) -> str | None:
        """The signed approval URL of a pending approval (None without approval.base_url or a secret)."""
        return self._approvals.link(entry)

    def verify_token(self, action_id: str, token: str) -> None:
        """Raises ApprovalError unless `token` approves `action_id` now."""
        self._approvals.verify(action_id, token)

    def approval_token(self, entry: LedgerEntry) -> str | None:
        return self._approvals.token(entry)
