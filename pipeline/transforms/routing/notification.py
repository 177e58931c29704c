"""Routing's side of the notification record (pipeline/notification.py): the reasons it is sent, its
deterministic id, and building it from the routed alerts.

`id` is deterministic: hash(receiver, group key, alert-set hash, sequence start, sequence number), so a
notification re-emitted after a crash (same state, same input) has the same id and delivery can drop it.
"""

from __future__ import annotations

from collections.abc import Mapping

from pipeline.envelope import seeded_fingerprint
from pipeline.notification import NOTIFICATION_SCHEMA, AlertItem, AlertStatus, Notification, iso
from pipeline.transforms.rules.alert import Alert

REASON_FIRST = "first notification"
REASON_NEW_ALERTS = "new alerts added"
REASON_SOME_RESOLVED = "some alerts resolved"
REASON_ALL_RESOLVED = "all alerts resolved"
REASON_REPEAT = "repeat interval elapsed"
REASONS = (REASON_FIRST, REASON_NEW_ALERTS, REASON_SOME_RESOLVED, REASON_ALL_RESOLVED, REASON_REPEAT)


def alert_set_hash(firing: list[str], resolved: list[str]) -> str:
    return seeded_fingerprint(("exmail.alertset",), sorted(firing), sorted(resolved))


def notification_id(receiver: str, group_key: str, set_hash: str, sequence_start: float, sequence: int) -> str:
    return seeded_fingerprint((NOTIFICATION_SCHEMA, receiver), group_key, set_hash, iso(sequence_start), sequence)


def build_notification(*, id: str, receiver: str, group_key: str, group_id: str, group_labels: Mapping[str, str],
                       route_id: str, reason: str, sequence: int, sequence_start: float, created_at: float,
                       alerts: list[Alert], resolved: frozenset[str]) -> Notification:
    """The notification of `alerts` (those in `resolved`, by fingerprint, resolved; the others firing).

    What only a receiver's view holds (the title in its language, recipients, SSO links) is left empty: the
    wire carries the English and Chinese titles and the alerts' labels, and delivery decodes them per receiver.
    """
    corps = {a.labels.get("corp", "") for a in alerts}
    return Notification(
        receiver=receiver, group_key=group_key, idempotency_key=id,
        alerts=tuple([_item(a, "resolved" if a.fingerprint in resolved else "firing") for a in alerts]),
        corp_id=corps.pop() if len(corps) == 1 and "" not in corps else "*", reason=reason, group_id=group_id,
        group_labels=group_labels, route_id=route_id, sequence=sequence, sequence_start=sequence_start,
        created_at=created_at)


def _item(a: Alert, status: AlertStatus) -> AlertItem:
    labels, annotations = a.labels, a.annotations
    return AlertItem(labels, annotations, status, labels.get("severity", "warning"),
                     annotations.get("summary") or labels.get("alertname", ""), iso(a.starts_at),
                     iso(a.ends_at), a.fingerprint, a.rule, tuple(a.event_ids), a.action, a.sso_user)
