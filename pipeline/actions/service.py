"""The actions service: HR lifecycle events, alerts that name an action, and policy drift in; Exmail changes,
exmail.actions records and operator alerts out. Plain async methods for a faust agent (or anything) to call.

Every request becomes a ledger entry keyed by its deterministic id, so a replayed trigger finds its entry and
changes nothing. Safety rails, in order: administrators and allow-listed accounts are never touched; dry
runs only read and record the plan; the hourly limit of distinct accounts per kind skips (or, for scheduled
deletes, postpones) the excess; an approval, when required, must arrive (signed link or operator) before
the action runs. Records and alerts go through an outbox in the entry, so a crash never loses one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from pipeline import metrics
from pipeline.envelope import Envelope, EnvelopeError, parse_iso, utc_iso
from pipeline.exmail import AuthError, ExmailError
from pipeline.secrets import resolve_secret
from pipeline.actions._departments import DepartmentResolver
from pipeline.actions._procedures import GroupSource, Procedures
from pipeline.actions._run import ActionFailed, ActionSkipped, ExmailApi, Outcome, Run
from pipeline.actions.approval import ApprovalError, ApprovalSigner, approval_url
from pipeline.actions.channels import DeliveryFailed, SecretChannel, build_channel
from pipeline.actions.config import SECURITY_KINDS, ActionKind, ActionsConfig, SecurityRoute
from pipeline.actions.ledger import Ledger, LedgerStore, distinct_accounts
from pipeline.actions.model import (
    ActionRequest,
    Approval,
    CallRecord,
    LedgerEntry,
    LedgerState,
    OutboxItem,
    RecordStatus,
    Trigger,
    UndoInfo,
)
from pipeline.actions.outputs import ActionOutput, build_alert

log = logging.getLogger("pipeline.actions")

HR_SCHEMA = "hr.lifecycle/1"
ALERT_SCHEMA = "exmail.alert/1"
OPTIONS_SCHEMA = "exmail.raw.options/1"
HR_EVENTS = {"joiner": ActionKind.JOINER, "mover": ActionKind.MOVER, "leaver": ActionKind.LEAVER}
ALERT_ACTION_NAMES: dict[str, ActionKind] = {
    **{k.value: k for k in SECURITY_KINDS},
    "disable": ActionKind.DISABLE_ACCOUNT,
    "disable_user": ActionKind.DISABLE_ACCOUNT,
    "secure_login": ActionKind.FORCE_SECURE_LOGIN,
    "disable_imap_smtp": ActionKind.DISABLE_IMAP,
    "disable_pop_smtp": ActionKind.DISABLE_POP,
}
ADMIN_PROTECTED_HR = frozenset({ActionKind.LEAVER, ActionKind.LEAVER_DELETE})
_UNSET: Any = object()


class ActionInputError(ValueError):
    """A trigger record cannot be turned into an action (dead-letter it); the message names the field."""


class ActionNotFound(LookupError):
    """No action with this id in the ledger."""


class ActionStateError(ValueError):
    """The action is not in a state that allows this (approve a finished action, undo a dry run...)."""


def _transient(exc: Exception) -> bool:
    return isinstance(exc, DeliveryFailed | AuthError) or (isinstance(exc, ExmailError) and exc.retryable)


def _as_envelope(value: Envelope | Mapping[str, Any] | bytes, schema: str) -> Envelope:
    try:
        if isinstance(value, Envelope):
            env = value
        elif isinstance(value, bytes | bytearray):
            env = Envelope.decode(bytes(value))
        else:
            env = Envelope.from_dict(dict(value))
    except EnvelopeError as exc:
        raise ActionInputError(f"not a valid envelope: {exc}") from None
    if env.schema != schema:
        raise ActionInputError(f"expected schema {schema!r}, got {env.schema!r}")
    return env


def _text(data: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = data.get(key)
    if value is None:
        if required:
            raise ActionInputError(f"data.{key} is required")
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        raise ActionInputError(f"data.{key} must be a non-empty string")
    return value.strip()


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
        self._output = output
        self._clock = clock
        self._channel = build_channel(config.hr.delivery, resolve) if channel is _UNSET else channel
        secret = approval_secret or (resolve(config.approval.secret) if config.approval.secret else None)
        self._signer = ApprovalSigner(secret) if secret else None
        self.api_token = api_token or (resolve(config.api_token) if config.api_token else None)
        self._procedures = Procedures(
            config, DepartmentResolver(config.hr.department_cache, clock), self._channel, group_source
        )
        self._locks: dict[str, list[Any]] = {}
        self._running: set[str] = set()

    def __repr__(self) -> str:
        return f"ActionService(corps={sorted(self._clients)}, channel={self._channel!r})"

    def _now(self) -> float:
        return self._clock()

    @contextlib.asynccontextmanager
    async def _lock(self, action_id: str) -> AsyncIterator[None]:
        """One action at a time per id; the lock is dropped when nobody holds or waits for it."""
        slot = self._locks.setdefault(action_id, [asyncio.Lock(), 0])
        slot[1] += 1
        try:
            async with slot[0]:
                yield
        finally:
            slot[1] -= 1
            if slot[1] == 0:
                del self._locks[action_id]

    # ------------------------------------------------------------------ triggers

    async def handle_hr(self, record: Envelope | Mapping[str, Any] | bytes) -> LedgerEntry | None:
        """An hr.lifecycle/1 record -> joiner / mover / leaver action (None when HR actions are disabled)."""
        env = _as_envelope(record, HR_SCHEMA)
        if not self.config.enabled or not self.config.hr.enabled:
            return None
        data = env.data
        event = _text(data, "event", required=True)
        if event not in HR_EVENTS:
            raise ActionInputError(f"data.event must be one of {sorted(HR_EVENTS)}, got {event!r}")
        request_id = _text(data, "request_id", required=True)
        employee_id = _text(data, "employee_id", required=True)
        userid = _text(data, "userid", required=True)
        assert request_id is not None and employee_id is not None and userid is not None
        if "@" not in userid:
            raise ActionInputError("data.userid must be a mailbox address")
        aliases = data.get("aliases") or []
        if not isinstance(aliases, list) or not all(isinstance(a, str) for a in aliases):
            raise ActionInputError("data.aliases must be a list of strings")
        params: dict[str, Any] = {"employee_id": employee_id}
        for key in ("name", "department_path", "position", "mobile", "effective_at"):
            params[key] = _text(data, key)
        params["aliases"] = [a.strip().lower() for a in aliases if a.strip()]
        not_before = None
        if params["effective_at"]:
            try:
                not_before = parse_iso(params["effective_at"]).timestamp()
            except ValueError:
                raise ActionInputError("data.effective_at must be an RFC 3339 time") from None
        kind = HR_EVENTS[event]
        request = ActionRequest.build(
            kind=kind,
            corp_id=env.corp_id,
            target=userid,
            requested_by=f"hr:{env.source}",
            reason=f"HR {event} request {request_id} for employee {employee_id}",
            trigger=Trigger(type="hr", ref=f"{request_id}/{employee_id}", id=env.id),
            params=params,
            requested_at=self._now(),
            not_before=not_before,
        )
        hr = self.config.hr
        return await self.submit(
            request,
            dry_run=self.config.dry_run_for(hr.dry_run),
            approval=hr.approval,
            allow_list=False,
            protect_admins=kind in ADMIN_PROTECTED_HR,
        )

    async def handle_alert(self, record: Envelope | Mapping[str, Any] | bytes) -> LedgerEntry | None:
        """An exmail.alert/1 record whose `action` names a security action. Resolved alerts and alerts
        without an action give None."""
        env = _as_envelope(record, ALERT_SCHEMA)
        data = env.data
        name = data.get("action")
        if not name or data.get("status", "firing") != "firing":
            return None
        if not self.config.enabled or not self.config.security.enabled:
            return None
        if not isinstance(name, str) or name not in ALERT_ACTION_NAMES:
            raise ActionInputError(
                f"data.action {name!r} is not an action; use one of {sorted(ALERT_ACTION_NAMES)}"
            )
        kind = ALERT_ACTION_NAMES[name]
        labels = data.get("labels")
        if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
            raise ActionInputError("data.labels must map strings to strings")
        rule = data.get("rule") or labels.get("alertname", "")
        route = self._route(kind, str(rule), labels)
        target_label = route.target_label if route else "user"
        target = labels.get(target_label)
        if not target or "@" not in target:
            raise ActionInputError(f"the alert has no account in label {target_label!r}")
        corp_id = labels.get("corp") or env.corp_id
        annotations = data.get("annotations") if isinstance(data.get("annotations"), dict) else {}
        fingerprint_ = str(data.get("fingerprint") or env.id)
        request = ActionRequest.build(
            kind=kind,
            corp_id=corp_id,
            target=target,
            requested_by=f"rule:{rule}",
            reason=str((annotations or {}).get("summary") or f"alert {labels.get('alertname', rule)}"),
            trigger=Trigger(type="alert", ref=f"{fingerprint_}@{data.get('starts_at', '')}", id=env.id),
            params={
                "alert": {
                    "rule": rule,
                    "fingerprint": fingerprint_,
                    "labels": labels,
                    "route": route.name if route else None,
                }
            },
            requested_at=self._now(),
        )
        if route is None:
            return await self._refuse(
                request, f"no actions.security route allows {kind.value} for rule {rule!r}"
            )
        return await self.submit(
            request,
            dry_run=self.config.dry_run_for(route.dry_run),
            approval=route.approval,
            allow_list=True,
            protect_admins=True,
        )

    def _route(self, kind: ActionKind, rule: str, labels: Mapping[str, str]) -> SecurityRoute | None:
        for route in self.config.security.routes:
            if route.rules and rule not in route.rules:
                continue
            if any(labels.get(k) != v for k, v in route.labels.items()):
                continue
            if kind in route.actions:
                return route
        return None

    async def handle_options(self, record: Envelope | Mapping[str, Any] | bytes) -> LedgerEntry | None:
        """An exmail.raw.options/1 record: re-apply the desired values of drifted options when
        actions.drift.remediate is on (None otherwise, or when nothing drifted)."""
        env = _as_envelope(record, OPTIONS_SCHEMA)
        drift_cfg = self.config.drift
        if not self.config.enabled or not drift_cfg.remediate:
            return None
        userid = _text(env.data, "userid", required=True)
        assert userid is not None
        drift = env.data.get("drift") or []
        if not isinstance(drift, list):
            raise ActionInputError("data.drift must be a list")
        desired: dict[str, str] = {}
        for item in drift:
            if (
                not isinstance(item, dict)
                or not isinstance(item.get("type"), int)
                or not isinstance(item.get("desired"), str)
            ):
                raise ActionInputError("data.drift items need an integer type and a string desired value")
            if item["type"] in drift_cfg.types and item.get("actual") != item["desired"]:
                desired[str(item["type"])] = item["desired"]
        if not desired:
            return None
        request = ActionRequest.build(
            kind=ActionKind.REMEDIATE_DRIFT,
            corp_id=env.corp_id,
            target=userid,
            requested_by="policy:useroption",
            reason="useroption drift from the desired policy: "
            + ", ".join(f"type {t} should be {v}" for t, v in sorted(desired.items())),
            trigger=Trigger(type="drift", ref=env.id, id=env.id),
            params={"desired": desired},
            requested_at=self._now(),
        )
        return await self.submit(
            request,
            dry_run=self.config.dry_run_for(drift_cfg.dry_run),
            approval=drift_cfg.approval,
            allow_list=True,
            protect_admins=True,
        )

    # ------------------------------------------------------------------ the rails

    def _protected(self, target: str, *, allow_list: bool, protect_admins: bool) -> str | None:
        if protect_admins and target in self.config.admins:
            return (
                f"{target} is an administrator account (actions.admins); it is never acted on automatically"
            )
        if allow_list:
            domain = target.rsplit("@", 1)[-1]
            for entry in self.config.allow_list:
                if entry == target or entry in (f"@{domain}", domain):
                    return f"{target} is allow-listed (actions.allow_list: {entry})"
        return None

    async def _limit_reason(self, entry: LedgerEntry, now: float, *, reserve: bool) -> str | None:
        """Why the hourly limit refuses this account now (None = allowed; reserves a slot when asked)."""
        r = self.config
        kind = entry.kind
        limit = r.hourly_limits.get(kind)
        if limit is None or entry.progress.get("limit_reserved"):
            return None
        hits = await self.ledger.window(entry.request.corp_id, kind, now, r.limit_window)
        accounts = distinct_accounts(hits)
        if entry.request.target not in accounts and len(accounts) >= limit:
            return (
                f"hourly limit reached: {len(accounts)} accounts already had {kind.value} in the last "
                f"{int(r.limit_window)}s (limit {limit})"
            )
        if reserve:
            await self.ledger.add_hit(entry.request.corp_id, kind, now, r.limit_window, entry.request.target)
            entry.progress["limit_reserved"] = True
        return None

    async def submit(
        self,
        request: ActionRequest,
        *,
        dry_run: bool,
        approval: bool = False,
        allow_list: bool = True,
        protect_admins: bool = True,
    ) -> LedgerEntry:
        """Accept a request through the rails; returns its ledger entry. A request whose id is already in
        the ledger returns that entry and does nothing (replays are no-ops)."""
        async with self._lock(request.id):
            existing = await self.ledger.get(request.id)
            if existing is not None:
                log.debug(
                    "action %s (%s %s) already known: %s",
                    request.id,
                    request.kind.value,
                    request.target,
                    existing.state.value,
                )
                return existing
            now = self._now()
            entry = LedgerEntry(
                request=request,
                state=LedgerState.PLANNED,
                dry_run=dry_run,
                approval=Approval(required=approval and not dry_run),
                created_at=now,
                updated_at=now,
                due_at=request.not_before if request.not_before and request.not_before > now else None,
            )
            self._emit(entry, RecordStatus.REQUESTED, now)
            reason = self._protected(request.target, allow_list=allow_list, protect_admins=protect_admins)
            if reason is not None:
                return await self._skip(entry, reason, now, alert=request.trigger.type == "hr")
            client = self._clients.get(request.corp_id)
            if client is None:
                return await self._fail(
                    entry, f"no Exmail client is configured for corp {request.corp_id}", None, now
                )
            if dry_run:
                return await self._dry_run(entry, client, now)
            limited = await self._limit_reason(entry, now, reserve=False)
            if limited is not None:
                return await self._skip(entry, limited, now, alert=True)
            if entry.approval.required:
                return await self._ask_approval(entry, client, now)
            if entry.due_at is not None:
                entry.state = LedgerState.SCHEDULED
                await self._commit(entry)
                return entry
            await self._commit(entry)
            return await self._execute(entry, client)

    async def _refuse(self, request: ActionRequest, reason: str) -> LedgerEntry:
        async with self._lock(request.id):
            existing = await self.ledger.get(request.id)
            if existing is not None:
                return existing
            now = self._now()
            entry = LedgerEntry(
                request=request, state=LedgerState.PLANNED, dry_run=False, created_at=now, updated_at=now
            )
            self._emit(entry, RecordStatus.REQUESTED, now)
            return await self._skip(entry, reason, now)

    # ------------------------------------------------------------------ transitions

    def _emit(
        self, entry: LedgerEntry, status: RecordStatus, now: float, calls: list[CallRecord] | None = None
    ) -> None:
        envelope = entry.record(status, now, calls)
        entry.records += 1
        entry.status = status
        entry.outbox.append(
            OutboxItem(channel="record", key=entry.key().decode(), envelope=envelope.to_dict())
        )
        metrics.ACTIONS.labels(entry.kind.value, status.value).inc()
        log.info(
            "action %s %s %s: %s%s",
            entry.id,
            entry.kind.value,
            entry.request.target,
            status.value,
            f" ({entry.error or entry.detail})" if (entry.error or entry.detail) else "",
        )

    def _alert(self, entry: LedgerEntry, rule: str, summary: str, now: float, **annotations: str) -> None:
        envelope = build_alert(
            rule=rule,
            corp_id=entry.request.corp_id,
            now=now,
            resolve_after=self.config.alert_resolve_after,
            labels={
                "user": entry.request.target,
                "action": entry.kind.value,
                "action_id": entry.id,
                "severity": "warning",
            },
            annotations={"summary": summary, **annotations},
            event_ids=[entry.id],
        )
        entry.outbox.append(
            OutboxItem(channel="alert", key=envelope.data["fingerprint"], envelope=envelope.to_dict())
        )

    async def _commit(self, entry: LedgerEntry) -> None:
        """Persist the entry, then hand its outbox to the output, then persist the empty outbox."""
        entry.updated_at = self._now()
        await self.ledger.save(entry)
        await self._flush(entry)

    async def _flush(self, entry: LedgerEntry) -> None:
        if not entry.outbox:
            return
        for item in entry.outbox:
            envelope = Envelope.from_dict(item.envelope)
            if item.channel == "record":
                await self._output.record(item.key.encode(), envelope)
            else:
                await self._output.alert(item.key.encode(), envelope)
        entry.outbox = []
        await self.ledger.save(entry)

    async def _skip(self, entry: LedgerEntry, reason: str, now: float, *, alert: bool = False) -> LedgerEntry:
        entry.state, entry.detail, entry.due_at = LedgerState.SKIPPED, reason, None
        self._emit(entry, RecordStatus.SKIPPED, now)
        if alert:
            self._alert(
                entry,
                "action_skipped",
                f"{entry.kind.value} for {entry.request.target} was not executed: {reason}",
                now,
            )
        await self._commit(entry)
        return entry

    async def _fail(self, entry: LedgerEntry, reason: str, errcode: int | None, now: float) -> LedgerEntry:
        entry.state, entry.error, entry.errcode, entry.due_at = LedgerState.FAILED, reason, errcode, None
        self._emit(entry, RecordStatus.FAILED, now)
        code = f" (errcode {errcode})" if errcode is not None else ""
        self._alert(
            entry,
            "action_failed",
            f"{entry.kind.value} for {entry.request.target} failed{code}: {reason}",
            now,
            requested_by=entry.request.requested_by,
            reason=entry.request.reason,
        )
        await self._commit(entry)
        return entry

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
            entry.updated_at = self._now()
            await self.ledger.save(entry)

        return Run(entry, client, dry_run=dry_run, now=now, persist=persist, calls=calls)

    async def _plan(self, entry: LedgerEntry, client: ExmailApi, now: float) -> Outcome:
        return await self._procedures.run(self._run(entry, client, dry_run=True, now=now))

    async def _dry_run(self, entry: LedgerEntry, client: ExmailApi, now: float) -> LedgerEntry:
        try:
            outcome = await self._plan(entry, client, now)
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
        self._emit(entry, RecordStatus.DRY_RUN, now)
        await self._commit(entry)
        return entry

    async def _ask_approval(self, entry: LedgerEntry, client: ExmailApi, now: float) -> LedgerEntry:
        try:
            outcome = await self._plan(entry, client, now)
        except ActionFailed as exc:
            return await self._fail(entry, exc.reason, exc.errcode, now)
        except ActionSkipped as exc:
            return await self._skip(entry, exc.reason, now)
        except ExmailError as exc:
            if not _transient(exc):
                return await self._fail(entry, str(exc), exc.errcode, now)
            outcome = Outcome(f"plan unavailable: {exc}")
        expires = now + self.config.approval.ttl
        entry.state, entry.due_at, entry.detail = LedgerState.AWAITING_APPROVAL, expires, outcome.detail
        entry.approval.expires_at = expires
        self._emit(entry, RecordStatus.AWAITING_APPROVAL, now)
        link = self.approval_link(entry)
        extra = {"approve_command": f"pipeline actions approve {entry.id}", "expires_at": utc_iso(expires)}
        if link is not None:
            extra["approve_url"] = link
        self._alert(
            entry,
            "action_approval_required",
            f"approve {entry.kind.value} for {entry.request.target}? {entry.request.reason}",
            now,
            **extra,
        )
        await self._commit(entry)
        return entry

    def approval_link(self, entry: LedgerEntry) -> str | None:
        """The signed approval URL of a pending approval (None without approval.base_url or a secret)."""
        base = self.config.approval.base_url
        if self._signer is None or base is None or entry.approval.expires_at is None:
            return None
        return approval_url(base, entry.id, self._signer.token(entry.id, entry.approval.expires_at))

    def verify_token(self, action_id: str, token: str) -> None:
        """Raises ApprovalError unless `token` approves `action_id` now."""
        if self._signer is None:
            raise ApprovalError("approval tokens are not configured (actions.approval.secret)")
        self._signer.verify(action_id, token, self._now())

    def approval_token(self, entry: LedgerEntry) -> str | None:
        if self._signer is None or entry.approval.expires_at is None:
            return None
        return self._signer.token(entry.id, entry.approval.expires_at)

    async def _execute(self, entry: LedgerEntry, client: ExmailApi) -> LedgerEntry:
        """Run (or resume) the action; the caller holds its lock."""
        now = self._now()
        retry = self.config.retry
        if entry.attempts >= retry.max_attempts:
            return await self._fail(
                entry,
                f"gave up after {entry.attempts} attempts: {entry.error or entry.detail}",
                entry.errcode,
                now,
            )
        limited = await self._limit_reason(entry, now, reserve=True)
        if limited is not None:
            if entry.request.trigger.type == "schedule":
                hits = await self.ledger.window(
                    entry.request.corp_id, entry.kind, now, self.config.limit_window
                )
                entry.state = LedgerState.SCHEDULED
                entry.due_at = min(t for t, _ in hits) + self.config.limit_window if hits else now + 60.0
                entry.detail = f"postponed: {limited}"
                await self._commit(entry)
                return entry
            return await self._skip(entry, limited, now, alert=True)
        entry.state = LedgerState.EXECUTING
        entry.attempts += 1
        entry.due_at = None
        entry.calls = [c for c in entry.calls if c.outcome != "planned"]
        for call in entry.calls:
            if call.outcome == "sent":
                call.outcome = "unknown"
        await self._commit(entry)
        self._running.add(entry.id)
        try:
            outcome = await self._procedures.run(self._run(entry, client, dry_run=False, now=now))
            await self._after_success(entry, now)
        except ActionFailed as exc:
            return await self._fail(entry, exc.reason, exc.errcode, self._now())
        except ActionSkipped as exc:
            return await self._skip(entry, exc.reason, self._now())
        except (ExmailError, DeliveryFailed) as exc:
            errcode = exc.errcode if isinstance(exc, ExmailError) else None
            if not _transient(exc):
                return await self._fail(entry, str(exc), errcode, self._now())
            if entry.attempts >= retry.max_attempts:
                return await self._fail(
                    entry, f"gave up after {entry.attempts} attempts: {exc}", errcode, self._now()
                )
            delay = min(retry.max_backoff, retry.backoff * 2 ** (entry.attempts - 1))
            entry.state, entry.due_at = LedgerState.SCHEDULED, self._now() + delay
            entry.error, entry.errcode = (
                f"attempt {entry.attempts} failed, retrying in {int(delay)}s: {exc}",
                errcode,
            )
            await self._commit(entry)
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
            delete = await self.ledger.get(self._delete_request(entry, now).id)
            if delete is not None and delete.due_at is not None:
                entry.detail += f"; delete scheduled at {utc_iso(delete.due_at)}"
        self._emit(entry, RecordStatus.EXECUTED, self._now())
        await self._commit(entry)
        if entry.kind is ActionKind.LEAVER and self.config.hr.leaver_grace <= 0:
            await self._resume_one(self._delete_request(entry, now).id, self._now())
        return entry

    async def _after_success(self, entry: LedgerEntry, now: float) -> None:
        """Follow-ups that must be durable before the action counts as done."""
        if entry.kind is ActionKind.LEAVER and not entry.progress.get("absent"):
            await self._schedule_delete(entry, now)
        if entry.kind is ActionKind.JOINER:
            await self._cancel_deletes(entry)

    def _delete_request(self, leaver: LedgerEntry, now: float) -> ActionRequest:
        grace = self.config.hr.leaver_grace
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

    async def _schedule_delete(self, leaver: LedgerEntry, now: float) -> None:
        request = self._delete_request(leaver, now)
        if await self.ledger.get(request.id) is not None:
            return
        entry = LedgerEntry(
            request=request,
            state=LedgerState.SCHEDULED,
            dry_run=False,
            due_at=request.not_before,
            created_at=now,
            updated_at=now,
        )
        self._emit(entry, RecordStatus.REQUESTED, now)
        await self._commit(entry)

    async def _cancel_deletes(self, joiner: LedgerEntry) -> None:
        for pending in await self.ledger.pending():
            r = pending.request
            if (
                r.kind is ActionKind.LEAVER_DELETE
                and pending.state is LedgerState.SCHEDULED
                and r.corp_id == joiner.request.corp_id
                and r.target == joiner.request.target
            ):
                async with self._lock(pending.id):
                    fresh = await self.ledger.get(pending.id)
                    if fresh is not None and fresh.state is LedgerState.SCHEDULED:
                        await self._skip(
                            fresh, f"cancelled: the employee joined again (action {joiner.id})", self._now()
                        )

    # ------------------------------------------------------------------ due work

    async def due(self, now: float | None = None) -> list[LedgerEntry]:
        """Entries that need work now: interrupted actions, scheduled ones (leaver deletes, retries, future
        effective dates) whose time has come, expired approvals, unflushed records."""
        entries = await self.ledger.due(self._now() if now is None else now)
        return [e for e in entries if e.id not in self._running]

    async def run_due(self, now: float | None = None) -> list[LedgerEntry]:
        """Do what `due()` lists. Call it at start (resume after a crash) and then periodically."""
        at = self._now() if now is None else now
        done = []
        for entry in await self.due(at):
            result = await self._resume_one(entry.id, at)
            if result is not None:
                done.append(result)
        return done

    resume = run_due

    async def _resume_one(self, action_id: str, now: float) -> LedgerEntry | None:
        async with self._lock(action_id):
            entry = await self.ledger.get(action_id)
            if entry is None or not entry.pending:
                return entry
            await self._flush(entry)
            state = entry.state
            timed_out = entry.due_at is not None and entry.due_at <= now
            if state is LedgerState.AWAITING_APPROVAL:
                if timed_out:
                    return await self._skip(entry, "the approval window expired", self._now())
                return entry
            if state is LedgerState.SCHEDULED and not timed_out:
                return entry
            client = self._clients.get(entry.request.corp_id)
            if client is None:
                if state in (LedgerState.UNDOING,):
                    return entry
                return await self._fail(
                    entry,
                    f"no Exmail client is configured for corp {entry.request.corp_id}",
                    None,
                    self._now(),
                )
            if state is LedgerState.UNDOING:
                return await self._undo(entry, client)
            if state in (LedgerState.PLANNED, LedgerState.EXECUTING, LedgerState.SCHEDULED):
                return await self._execute(entry, client)
            return entry

    # ------------------------------------------------------------------ operator commands

    async def get(self, action_id: str) -> LedgerEntry:
        entry = await self.ledger.get(action_id)
        if entry is None:
            raise ActionNotFound(f"no action {action_id!r}")
        return entry

    async def list_actions(self, state: str = "pending", limit: int = 50) -> list[LedgerEntry]:
        """ "pending" (approvals, schedules, interrupted), "approvals", or "recent" (newest first)."""
        if state == "recent":
            return await self.ledger.recent(limit)
        entries = await self.ledger.pending()
        if state == "approvals":
            entries = [e for e in entries if e.state is LedgerState.AWAITING_APPROVAL]
        elif state != "pending":
            raise ValueError("state must be pending, approvals or recent")
        return sorted(entries, key=lambda e: (e.due_at or 0.0, e.created_at))[:limit]

    async def approve(self, action_id: str, *, by: str, token: str | None = None) -> LedgerEntry:
        """Approve and run a pending action. With `token` (an approval link) it must verify; without, the
        caller is an authenticated operator (the HTTP layer checks the API token)."""
        async with self._lock(action_id):
            entry = await self.get(action_id)
            now = self._now()
            if token is not None:
                self.verify_token(action_id, token)
            if entry.state is not LedgerState.AWAITING_APPROVAL:
                if entry.approval.approved_by is not None:
                    return entry
                raise ActionStateError(f"action {action_id} is {entry.state.value}, not awaiting approval")
            if entry.due_at is not None and now > entry.due_at:
                await self._skip(entry, "the approval window expired", now)
                raise ApprovalError("the approval window of this action has expired")
            entry.approval.approved_by, entry.approval.approved_at = by, now
            entry.state, entry.due_at = LedgerState.PLANNED, None
            await self._commit(entry)
            client = self._clients.get(entry.request.corp_id)
            if client is None:
                return await self._fail(
                    entry, f"no Exmail client is configured for corp {entry.request.corp_id}", None, now
                )
            return await self._execute(entry, client)

    async def reject(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        async with self._lock(action_id):
            entry = await self.get(action_id)
            if entry.state is not LedgerState.AWAITING_APPROVAL:
                raise ActionStateError(f"action {action_id} is {entry.state.value}, not awaiting approval")
            entry.approval.rejected_by = by
            return await self._skip(
                entry, f"rejected by {by}" + (f": {reason}" if reason else ""), self._now()
            )

    async def undo(self, action_id: str, *, by: str, reason: str = "") -> LedgerEntry:
        """Reverse an executed action from what it recorded (enable again, restore options, groups,
        department). Undoing a leaver also cancels its scheduled delete."""
        async with self._lock(action_id):
            entry = await self.get(action_id)
            if entry.state is LedgerState.UNDONE:
                return entry
            if entry.state is not LedgerState.UNDOING:
                if not entry.undoable:
                    raise ActionStateError(self._not_undoable(entry))
                if entry.kind is ActionKind.LEAVER:
                    await self._cancel_leaver_delete(entry, by)
                entry.undo = UndoInfo(requested_by=by, reason=reason, requested_at=self._now())
                entry.state = LedgerState.UNDOING
                await self._commit(entry)
            client = self._clients.get(entry.request.corp_id)
            if client is None:
                raise ActionStateError(f"no Exmail client is configured for corp {entry.request.corp_id}")
            return await self._undo(entry, client)

    def _not_undoable(self, entry: LedgerEntry) -> str:
        if entry.dry_run:
            return f"action {entry.id} was a dry run; nothing was changed"
        if entry.state is not LedgerState.DONE:
            return f"action {entry.id} is {entry.state.value}; only executed actions can be undone"
        if entry.result != "changed":
            return f"action {entry.id} changed nothing"
        return f"{entry.kind.value} actions cannot be undone through the API"

    async def _cancel_leaver_delete(self, leaver: LedgerEntry, by: str) -> None:
        for pending in await self.ledger.pending():
            r = pending.request
            if r.kind is ActionKind.LEAVER_DELETE and r.params.get("leaver_action") == leaver.id:
                if pending.state is not LedgerState.SCHEDULED:
                    raise ActionStateError(f"the delete of {r.target} is {pending.state.value}; cannot undo")
                async with self._lock(pending.id):
                    fresh = await self.ledger.get(pending.id)
                    if fresh is not None and fresh.state is LedgerState.SCHEDULED:
                        await self._skip(fresh, f"cancelled: leaver action undone by {by}", self._now())
                return
        deleted = [
            e
            for e in await self.ledger.recent(self.config.recent_limit)
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

    async def _undo(self, entry: LedgerEntry, client: ExmailApi) -> LedgerEntry:
        assert entry.undo is not None
        now = self._now()
        for call in entry.undo.calls:
            if call.outcome == "sent":
                call.outcome = "unknown"
        run = self._run(entry, client, dry_run=False, now=now, calls=entry.undo.calls)
        try:
            outcome = await self._procedures.undo(run)
        except (ActionFailed, ExmailError) as exc:
            reason = exc.reason if isinstance(exc, ActionFailed) else str(exc)
            if isinstance(exc, ExmailError) and _transient(exc):
                raise ActionStateError(f"undo interrupted, try again: {reason}") from None
            entry.state, entry.undo = LedgerState.DONE, None
            entry.detail = f"{entry.detail}; undo failed: {reason}"
            await self._commit(entry)
            raise ActionStateError(f"undo failed: {reason}") from None
        entry.undo.finished_at = self._now()
        entry.state = LedgerState.UNDONE
        entry.detail = f"{entry.detail}; undone: {outcome.detail}"
        self._emit(entry, RecordStatus.UNDONE, self._now(), calls=entry.undo.calls)
        await self._commit(entry)
        return entry

    async def plan(self, request: ActionRequest) -> list[CallRecord]:
        """The calls `request` would make now (reads run, writes are only listed)."""
        client = self._clients.get(request.corp_id)
        if client is None:
            raise ActionInputError(f"no Exmail client is configured for corp {request.corp_id}")
        now = self._now()
        entry = LedgerEntry(
            request=request, state=LedgerState.DRY_RUN, dry_run=True, created_at=now, updated_at=now
        )

        async def persist() -> None:
            return None

        await self._procedures.run(Run(entry, client, dry_run=True, now=now, persist=persist))
        return entry.calls
