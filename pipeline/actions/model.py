"""Action requests, ledger entries and the exmail.action/1 record built from them.

An action's id is a fingerprint of what triggered it (HR request + employee, alert fingerprint + episode,
options snapshot id), its kind and its target, so the same trigger seen twice maps to the same ledger entry
and changes nothing the second time. Entries are plain JSON (pydantic `model_dump(mode="json")`) so any
key/value store can hold them. Nothing here ever holds a password: call parameters are redacted when they
are recorded.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from pipeline.actions.config import ActionKind
from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.secrets import REDACTED, scrub

ACTION_SCHEMA = "exmail.action/1"
ACTION_SOURCE = "pipeline.transforms.actions"  # a wire value (schemas/action.v1.json enum): stable across the move
DATASET = "exmail.actions"

TriggerType = Literal["hr", "alert", "drift", "schedule", "manual"]
CallKind = Literal["read", "write", "delivery"]
CallOutcome = Literal["planned", "sent", "ok", "error", "unknown"]


class RecordStatus(StrEnum):
    """`data.status` of an exmail.action/1 record."""

    REQUESTED = "requested"
    AWAITING_APPROVAL = "awaiting_approval"
    DRY_RUN = "dry_run"
    EXECUTED = "executed"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNDONE = "undone"


class LedgerState(StrEnum):
    """Where an action is. PLANNED/EXECUTING/SCHEDULED/AWAITING_APPROVAL/UNDOING are pending (resumable)."""

    PLANNED = "planned"
    AWAITING_APPROVAL = "awaiting_approval"
    SCHEDULED = "scheduled"
    EXECUTING = "executing"
    UNDOING = "undoing"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"
    DRY_RUN = "dry_run"
    UNDONE = "undone"


PENDING_STATES = frozenset(
    {
        LedgerState.PLANNED,
        LedgerState.AWAITING_APPROVAL,
        LedgerState.SCHEDULED,
        LedgerState.EXECUTING,
        LedgerState.UNDOING,
    }
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Trigger(_Model):
    """What asked for the action: `ref` is the human-meaningful reference, `id` the triggering record's id."""

    type: TriggerType
    ref: str
    id: str | None = None


def action_id(corp_id: str, trigger: Trigger, kind: ActionKind, target: str) -> str:
    """Deterministic: the same trigger, kind and target always give the same id."""
    return fingerprint(ACTION_SCHEMA, corp_id, trigger.type, trigger.ref, kind.value, target.strip().lower())


class ActionRequest(_Model):
    id: str
    kind: ActionKind
    corp_id: str = Field(min_length=1)
    target: str = Field(min_length=1, description="the account (userid) acted on")
    requested_by: str = Field(
        description="who or what asked: hr:<source>, rule:<name>, policy:<name>, cli:<user>"
    )
    reason: str
    trigger: Trigger
    params: dict[str, Any] = Field(default_factory=dict, description="non-secret parameters of the kind")
    requested_at: float
    not_before: float | None = None

    @classmethod
    def build(
        cls,
        *,
        kind: ActionKind,
        corp_id: str,
        target: str,
        requested_by: str,
        reason: str,
        trigger: Trigger,
        requested_at: float,
        params: dict[str, Any] | None = None,
        not_before: float | None = None,
    ) -> ActionRequest:
        target = target.strip().lower()
        return cls(
            id=action_id(corp_id, trigger, kind, target),
            kind=kind,
            corp_id=corp_id,
            target=target,
            requested_by=requested_by,
            reason=reason,
            trigger=trigger,
            params=dict(params or {}),
            requested_at=requested_at,
            not_before=not_before,
        )


class CallRecord(_Model):
    """One API call (or credential delivery) an action made or would make; `params` are redacted."""

    endpoint: str
    method: str
    kind: CallKind
    params: dict[str, Any]
    purpose: str = ""
    outcome: CallOutcome
    errcode: int | None = None
    error: str | None = None
    at: float
    attempt: int = 0


def redact(params: dict[str, Any]) -> dict[str, Any]:
    """Call parameters as they may be recorded: passwords and other secret-named keys masked."""
    cleaned: dict[str, Any] = scrub(params)
    return {k: (REDACTED if k == "password" else v) for k, v in cleaned.items()}


class Approval(_Model):
    required: bool = False
    expires_at: float | None = None
    approved_by: str | None = None
    approved_at: float | None = None
    rejected_by: str | None = None


class UndoInfo(_Model):
    requested_by: str
    reason: str = ""
    requested_at: float
    finished_at: float | None = None
    calls: list[CallRecord] = Field(default_factory=list)


class OutboxItem(_Model):
    """A record or alert decided but not yet acknowledged by the output (flushed again after a crash)."""

    channel: Literal["record", "alert"]
    key: str
    envelope: dict[str, Any]


class LedgerEntry(_Model):
    """The ledger's view of one action; `before` holds what undo needs, `progress` crash-resume markers."""

    request: ActionRequest
    state: LedgerState
    status: RecordStatus = RecordStatus.REQUESTED
    dry_run: bool
    due_at: float | None = None
    attempts: int = 0
    approval: Approval = Field(default_factory=Approval)
    calls: list[CallRecord] = Field(default_factory=list)
    before: dict[str, Any] = Field(default_factory=dict)
    progress: dict[str, Any] = Field(default_factory=dict)
    result: str | None = Field(None, description="changed | unchanged | would_change | would_fail")
    detail: str | None = None
    errcode: int | None = None
    error: str | None = None
    undo: UndoInfo | None = None
    records: int = Field(0, description="records emitted so far (part of each record's id)")
    outbox: list[OutboxItem] = Field(default_factory=list)
    created_at: float
    updated_at: float

    @property
    def id(self) -> str:
        return self.request.id

    @property
    def kind(self) -> ActionKind:
        return self.request.kind

    @property
    def pending(self) -> bool:
        return self.state in PENDING_STATES or bool(self.outbox)

    @property
    def undoable(self) -> bool:
        return (
            self.state is LedgerState.DONE
            and self.result == "changed"
            and self.kind not in (ActionKind.JOINER, ActionKind.LEAVER_DELETE)
        )

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json")

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> LedgerEntry:
        return cls.model_validate(value)

    def summary(self) -> dict[str, Any]:
        """What the HTTP API and the CLI list show."""
        r = self.request
        return {
            "id": r.id,
            "kind": r.kind.value,
            "corp_id": r.corp_id,
            "target": r.target,
            "state": self.state.value,
            "status": self.status.value,
            "dry_run": self.dry_run,
            "requested_by": r.requested_by,
            "reason": r.reason,
            "requested_at": utc_iso(r.requested_at),
            "due_at": utc_iso(self.due_at) if self.due_at is not None else None,
            "approval": self.approval.model_dump(mode="json"),
            "result": self.result,
            "detail": self.detail,
            "errcode": self.errcode,
            "error": self.error,
            "undoable": self.undoable,
            "calls": len([c for c in self.calls if c.kind != "read"]),
            "attempts": self.attempts,
            "updated_at": utc_iso(self.updated_at),
        }

    def record(
        self, status: RecordStatus, now: float, calls: list[CallRecord] | None = None, source: str = ACTION_SOURCE
    ) -> Envelope:
        """The exmail.action/1 envelope for `status` now; its id is unique per action and emission. `source`
        names the component that acted (operator commands: pipeline.directory, pipeline.policy)."""
        r = self.request
        shown = self.calls if calls is None else calls
        outcome = {
            RecordStatus.EXECUTED: "success",
            RecordStatus.UNDONE: "success",
            RecordStatus.FAILED: "failure",
        }.get(status, "unknown")
        data: dict[str, Any] = {
            "action_id": r.id,
            "kind": r.kind.value,
            "status": status.value,
            "dry_run": self.dry_run,
            "target": {"userid": r.target},
            "requested_by": r.requested_by,
            "reason": r.reason,
            "trigger": r.trigger.model_dump(mode="json"),
            "params": r.params,
            "calls": [c.model_dump(mode="json") for c in shown],
            "result": self.result,
            "detail": self.detail,
            "errcode": self.errcode,
            "error": self.error,
            "approval": self.approval.model_dump(mode="json") if self.approval.required else None,
            "due_at": utc_iso(self.due_at) if self.due_at is not None else None,
            "attempts": self.attempts,
            "undoable": self.undoable,
            "undo": None
            if self.undo is None
            else {
                "requested_by": self.undo.requested_by,
                "reason": self.undo.reason,
                "requested_at": utc_iso(self.undo.requested_at),
            },
            "event": {"kind": "event", "dataset": DATASET, "action": r.kind.value, "outcome": outcome},
            "user": {"email": r.target},
        }
        return Envelope(
            schema=ACTION_SCHEMA,
            id=fingerprint(ACTION_SCHEMA, r.id, status.value, self.records),
            corp_id=r.corp_id,
            source=source,
            occurred_at=utc_iso(now),
            observed_at=utc_iso(now),
            data=data,
        )

    def key(self) -> bytes:
        return record_key(self.request.corp_id, self.request.target)


def operator_record(
    *,
    kind: ActionKind,
    corp_id: str,
    target: str,
    requested_by: str,
    reason: str,
    trigger_ref: str,
    params: dict[str, Any],
    calls: list[CallRecord],
    failed: bool,
    result: str | None,
    detail: str | None,
    errcode: int | None,
    error: str | None,
    source: str,
    now: float,
) -> Envelope:
    """The exmail.action/1 record of one change made by an operator command (directory import, policy apply).

    The action id is fingerprint(corp, "manual", trigger_ref, kind, target): one command run changes one
    target once, and a record re-sent after a crash keeps its id (the audit store keeps it once)."""
    trigger = Trigger(type="manual", ref=trigger_ref, id=None)
    request = ActionRequest(id=action_id(corp_id, trigger, kind, target), kind=kind, corp_id=corp_id, target=target,
                            requested_by=requested_by, reason=reason, trigger=trigger, params=redact(params),
                            requested_at=now)
    status = RecordStatus.FAILED if failed else RecordStatus.EXECUTED
    entry = LedgerEntry(request=request, state=LedgerState.FAILED if failed else LedgerState.DONE, status=status,
                        dry_run=False, calls=calls, result=result, detail=detail, errcode=errcode, error=error,
                        created_at=now, updated_at=now)
    return entry.record(status, now, source=source)
