"""Each gateway login, allowed or refused, as an exmail.action/1 record (kind `sso_login`) on exmail.actions,
the topic the audit agent stores; the gateway waits for the broker's acknowledgement before redirecting.

`target.userid`/`user.email` are the mailbox opened (or asked for; "anonymous" when a refusal came before
anyone was identified), `requested_by` is "sso:<method>:<login>", `params` say who, with which groups, by
which method and through which group a shared box was allowed, `source.ip` is the browser's address.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from pipeline.actions.model import ACTION_SCHEMA, DATASET
from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso

SOURCE = "pipeline.sso_gateway"
KIND = "sso_login"
ANONYMOUS = "anonymous"

RecordSink = Callable[[bytes, Envelope], Awaitable[None]]


@dataclass(slots=True)
class LoginAttempt:
    """What one request to the gateway established, filled in as the login proceeds."""

    ref: str
    method: str
    at: float
    client_ip: str | None
    requested_box: str | None = None
    login: str | None = None
    subject: str | None = None
    groups: tuple[str, ...] = ()
    mailbox: str | None = None
    shared: bool = False
    via_groups: tuple[str, ...] = ()
    via_session: bool = False
    calls: list[dict[str, Any]] = field(default_factory=list)

    def call(self, *, userid: str, outcome: str, at: float, errcode: int | None = None,
             error: str | None = None) -> None:
        self.calls.append({"endpoint": "service/get_login_url", "method": "GET", "kind": "read",
                           "params": {"userid": userid}, "purpose": "one-time Exmail login URL",
                           "outcome": outcome, "errcode": errcode, "error": error, "at": at, "attempt": 0})


def login_record(corp_id: str, attempt: LoginAttempt, *, allowed: bool, reason: str | None,
                 detail: str | None, errcode: int | None = None) -> tuple[bytes, Envelope]:
    """(Kafka key, envelope) of the attempt's outcome. The id is a fingerprint of the attempt's reference, so
    a record re-sent after a timeout is stored once."""
    target = attempt.mailbox or attempt.requested_box or ANONYMOUS
    action_id = fingerprint(ACTION_SCHEMA, corp_id, "sso", attempt.ref, KIND, target)
    status = "executed" if allowed else "failed"
    who = attempt.login or ANONYMOUS
    data: dict[str, Any] = {
        "action_id": action_id,
        "kind": KIND,
        "status": status,
        "dry_run": False,
        "target": {"userid": target},
        "requested_by": f"sso:{attempt.method}:{who}",
        "reason": ("opened shared mailbox" if attempt.shared else "opened own mailbox") if allowed
        else f"refused: {reason}",
        "trigger": {"type": "sso", "ref": attempt.ref, "id": None},
        "params": {
            "method": attempt.method, "login": attempt.login, "subject": attempt.subject,
            "groups": list(attempt.groups), "requested_box": attempt.requested_box, "shared": attempt.shared,
            "via_groups": list(attempt.via_groups), "via_session": attempt.via_session,
        },
        "calls": attempt.calls,
        "result": None,
        "detail": detail or None,
        "errcode": errcode,
        "error": None if allowed else reason,
        "approval": None,
        "due_at": None,
        "attempts": len(attempt.calls),
        "undoable": False,
        "undo": None,
        "event": {"kind": "event", "dataset": DATASET, "action": KIND,
                  "outcome": "success" if allowed else "failure"},
        "user": {"email": target},
    }
    if attempt.client_ip:
        data["source"] = {"ip": attempt.client_ip}
    when = utc_iso(attempt.at)
    envelope = Envelope(schema=ACTION_SCHEMA, id=fingerprint(ACTION_SCHEMA, action_id, status, 0), corp_id=corp_id,
                        source=SOURCE, occurred_at=when, observed_at=when, data=data)
    return record_key(corp_id, target), envelope
