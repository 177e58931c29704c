"""Intake: trigger records (hr.lifecycle/1, exmail.alert/1 naming an action, exmail.raw.options/1 with drift)
become action requests, and a request enters the ledger through the rails. Bad records raise
ActionInputError naming the field, so the agent dead-letters them."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pipeline.actions._approvals import Approvals
from pipeline.actions._execution import Executor
from pipeline.actions._journal import Journal
from pipeline.actions._locks import KeyedLocks
from pipeline.actions._rails import Rails, limit_reason, protected_reason
from pipeline.actions.config import SECURITY_KINDS, ActionKind, ActionsConfig, SecurityRoute
from pipeline.actions.errors import ActionInputError
from pipeline.actions.model import ActionRequest, Approval, LedgerEntry, LedgerState, RecordStatus, Trigger
from pipeline.envelope import Envelope, EnvelopeError, parse_iso
from pipeline.records import HR_SCHEMA, RAW_SCHEMAS
from pipeline.transforms.rules.alert import ALERT_SCHEMA

OPTIONS_SCHEMA = RAW_SCHEMAS["options"]
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

Record = Envelope | Mapping[str, Any] | bytes
log = logging.getLogger("pipeline.actions")


@dataclass(frozen=True, slots=True)
class AlertIntake:
    """An alert's request and the security route that allows it (None: no route does; refuse it)."""

    request: ActionRequest
    route: SecurityRoute | None
    rule: Any


def as_envelope(value: Record, schema: str) -> Envelope:
    """The record as an envelope of `schema` (an Envelope, its dict form or its encoded bytes)."""
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


def hr_request(env: Envelope, now: float) -> ActionRequest:
    """The joiner / mover / leaver request of an hr.lifecycle/1 envelope."""
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
    return ActionRequest.build(
        kind=HR_EVENTS[event],
        corp_id=env.corp_id,
        target=userid,
        requested_by=f"hr:{env.source}",
        reason=f"HR {event} request {request_id} for employee {employee_id}",
        trigger=Trigger(type="hr", ref=f"{request_id}/{employee_id}", id=env.id),
        params=params,
        requested_at=now,
        not_before=not_before,
    )


def security_route(
    config: ActionsConfig, kind: ActionKind, rule: str, labels: Mapping[str, str]
) -> SecurityRoute | None:
    """The first actions.security route that lets `rule` (with `labels`) trigger `kind`."""
    for route in config.security.routes:
        if route.rules and rule not in route.rules:
            continue
        if any(labels.get(k) != v for k, v in route.labels.items()):
            continue
        if kind in route.actions:
            return route
    return None


def alert_request(config: ActionsConfig, env: Envelope, name: Any, now: float) -> AlertIntake:
    """The security request of a firing alert whose `action` is `name`."""
    data = env.data
    if not isinstance(name, str) or name not in ALERT_ACTION_NAMES:
        raise ActionInputError(f"data.action {name!r} is not an action; use one of {sorted(ALERT_ACTION_NAMES)}")
    kind = ALERT_ACTION_NAMES[name]
    labels = data.get("labels")
    if not isinstance(labels, dict) or not all(isinstance(v, str) for v in labels.values()):
        raise ActionInputError("data.labels must map strings to strings")
    rule = data.get("rule") or labels.get("alertname", "")
    route = security_route(config, kind, str(rule), labels)
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
        requested_at=now,
    )
    return AlertIntake(request, route, rule)


def drift_request(config: ActionsConfig, env: Envelope, now: float) -> ActionRequest | None:
    """The remediation request of an options record (None when none of the remediated types drifted)."""
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
        if item["type"] in config.drift.types and item.get("actual") != item["desired"]:
            desired[str(item["type"])] = item["desired"]
    if not desired:
        return None
    return ActionRequest.build(
        kind=ActionKind.REMEDIATE_DRIFT,
        corp_id=env.corp_id,
        target=userid,
        requested_by="policy:useroption",
        reason="useroption drift from the desired policy: "
        + ", ".join(f"type {t} should be {v}" for t, v in sorted(desired.items())),
        trigger=Trigger(type="drift", ref=env.id, id=env.id),
        params={"desired": desired},
        requested_at=now,
    )


class Intake:
    """Turns trigger records into ledger entries: parse, then `submit` through the rails."""

    def __init__(self, journal: Journal, executor: Executor, approvals: Approvals, locks: KeyedLocks) -> None:
        self._journal = journal
        self._config = journal.config
        self._executor = executor
        self._approvals = approvals
        self._locks = locks

    async def handle_hr(self, record: Record) -> LedgerEntry | None:
        env = as_envelope(record, HR_SCHEMA)
        if not self._config.enabled or not self._config.hr.enabled:
            return None
        request = hr_request(env, self._journal.now())
        hr = self._config.hr
        rails = Rails(dry_run=self._config.dry_run_for(hr.dry_run), approval=hr.approval, allow_list=False,
                      protect_admins=request.kind in ADMIN_PROTECTED_HR)
        return await self.submit(request, rails)

    async def handle_alert(self, record: Record) -> LedgerEntry | None:
        env = as_envelope(record, ALERT_SCHEMA)
        name = env.data.get("action")
        if not name or env.data.get("status", "firing") != "firing":
            return None
        if not self._config.enabled or not self._config.security.enabled:
            return None
        intake = alert_request(self._config, env, name, self._journal.now())
        request, route = intake.request, intake.route
        if route is None:
            return await self._refuse(
                request, f"no actions.security route allows {request.kind.value} for rule {intake.rule!r}"
            )
        return await self.submit(request, Rails(self._config.dry_run_for(route.dry_run), route.approval))

    async def handle_options(self, record: Record) -> LedgerEntry | None:
        env = as_envelope(record, OPTIONS_SCHEMA)
        drift_cfg = self._config.drift
        if not self._config.enabled or not drift_cfg.remediate:
            return None
        request = drift_request(self._config, env, self._journal.now())
        if request is None:
            return None
        return await self.submit(request, Rails(self._config.dry_run_for(drift_cfg.dry_run), drift_cfg.approval))

    async def submit(self, request: ActionRequest, rails: Rails) -> LedgerEntry:
        """Accept a request through the rails; returns its ledger entry. A request whose id is already in
        the ledger returns that entry and does nothing (replays are no-ops)."""
        journal, executor = self._journal, self._executor
        async with self._locks.hold(request.id):
            existing = await journal.ledger.get(request.id)
            if existing is not None:
                log.debug("action %s (%s %s) already known: %s",
                          request.id, request.kind.value, request.target, existing.state.value)
                return existing
            now = journal.now()
            entry = LedgerEntry(
                request=request,
                state=LedgerState.PLANNED,
                dry_run=rails.dry_run,
                approval=Approval(required=rails.approval and not rails.dry_run),
                created_at=now,
                updated_at=now,
                due_at=request.not_before if request.not_before and request.not_before > now else None,
            )
            journal.emit(entry, RecordStatus.REQUESTED, now)
            reason = protected_reason(self._config, request.target, allow_list=rails.allow_list,
                                      protect_admins=rails.protect_admins)
            if reason is not None:
                return await journal.skip(entry, reason, now, alert=request.trigger.type == "hr")
            client = executor.client(request.corp_id)
            if client is None:
                return await journal.no_client(entry, now)
            if rails.dry_run:
                return await executor.dry_run(entry, client, now)
            limited = await limit_reason(self._config, journal.ledger, entry, now, reserve=False)
            if limited is not None:
                return await journal.skip(entry, limited, now, alert=True)
            if entry.approval.required:
                return await self._approvals.ask(entry, client, now)
            if entry.due_at is not None:
                entry.state = LedgerState.SCHEDULED
                await journal.commit(entry)
                return entry
            await journal.commit(entry)
            return await executor.execute(entry, client)

    async def _refuse(self, request: ActionRequest, reason: str) -> LedgerEntry:
        """Record a request that no route allows as skipped (once: a replay finds the entry)."""
        journal = self._journal
        async with self._locks.hold(request.id):
            existing = await journal.ledger.get(request.id)
            if existing is not None:
                return existing
            now = journal.now()
            entry = LedgerEntry(
                request=request, state=LedgerState.PLANNED, dry_run=False, created_at=now, updated_at=now
            )
            journal.emit(entry, RecordStatus.REQUESTED, now)
            return await journal.skip(entry, reason, now)

