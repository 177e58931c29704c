"""The outcome of one notification's attempt series, published by the caller to `exmail.deliveries`, and
the dead letter for the ones that cannot be delivered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, seeded_fingerprint
from pipeline.notification import Notification

DELIVERY_SCHEMA = "exmail.delivery/1"
DeliveryStatus = Literal["delivered", "failed", "dead_lettered", "interrupted"]


@dataclass(slots=True, frozen=True)
class DeliveryOutcome:
    """`status`: delivered (every part accepted), failed (transient errors outlasted the retry budget; a
    later redelivery may succeed) or dead_lettered (a permanent error; sending again cannot help).
    `operator_alert` is set whenever a notification did not get through. `reason` is label-safe
    ("errcode_93000", "http_503", "timeout"); `detail` is scrubbed text. No secret is ever in here."""

    receiver: str
    sink: str
    kind: str
    notification_id: str
    group_key: str
    status: DeliveryStatus
    attempts: int
    parts: int
    parts_delivered: int
    latency_s: float
    started_at: str
    finished_at: str
    errcode: int | None = None
    http_status: int | None = None
    reason: str | None = None
    detail: str | None = None
    operator_alert: bool = False
    token_refreshes: int = 0
    invalid_recipients: tuple[str, ...] = ()
    corp_id: str = ""

    @property
    def delivered(self) -> bool:
        return self.status == "delivered"

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver, "sink": self.sink, "kind": self.kind,
            "notification_id": self.notification_id, "group_key": self.group_key, "status": self.status,
            "attempts": self.attempts, "parts": self.parts, "parts_delivered": self.parts_delivered,
            "latency_s": round(self.latency_s, 6), "started_at": self.started_at, "finished_at": self.finished_at,
            "errcode": self.errcode, "http_status": self.http_status, "reason": self.reason,
            "detail": self.detail, "operator_alert": self.operator_alert, "token_refreshes": self.token_refreshes,
            "invalid_recipients": list(self.invalid_recipients),
        }

    @property
    def record_id(self) -> str:
        """The exmail.deliveries record's id: the same outcome always gets the same one."""
        return seeded_fingerprint(("delivery", self.sink), self.notification_id, self.started_at, self.status)

    def to_envelope(self) -> Envelope:
        """The `exmail.deliveries` record (key: the receiver). Observed and occurred when the send finished."""
        return Envelope(schema=DELIVERY_SCHEMA, id=self.record_id, corp_id=self.corp_id or "unknown",
                        source=f"delivery.{self.kind}", occurred_at=self.finished_at, data=self.to_dict(),
                        observed_at=self.finished_at)

    def encode(self) -> bytes:
        """The `exmail.deliveries` record's bytes."""
        return self.to_envelope().encode()


def dead_letter_for(outcome: DeliveryOutcome, notification: Notification, *, origin: Origin | None = None,
                    secrets: frozenset[str] = frozenset(), source: bytes | None = None) -> Envelope:
    """The `exmail.dlq` record for a notification that was dead-lettered or failed. Production calls it
    through `DeliverySink.dead_letter` (which passes the sink's live secrets). The payload is `source`, the
    exmail.notifications record as consumed, when given: it holds no SSO link (links are signed at delivery),
    so `pipeline replay` re-injects it and delivery signs fresh links. Without it, the rendered notification
    with its links masked (which replay refuses to resend)."""
    return dead_letter(
        stage=f"delivery.{outcome.kind}",
        reason=f"{outcome.sink}: {outcome.reason or outcome.status}: {outcome.detail or ''}".rstrip(": "),
        origin=origin or Origin(topic="exmail.notifications", key=notification.receiver),
        payload=source if source is not None else notification.to_dict(),
        corp_id=notification.corp_id or "unknown",
        error_type="permanent" if outcome.status == "dead_lettered" else "transient",
        secrets=secrets,
    )
