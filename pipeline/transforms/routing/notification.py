"""The notification record on exmail.notifications (key = receiver): one message the delivery stage sends.

`id` is deterministic: hash(receiver, group key, alert-set hash, sequence start, sequence number), so a
notification re-emitted after a crash (same state, same input) has the same id and delivery can drop it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.transforms.rules.alert import Alert

NOTIFICATION_SCHEMA = "exmail.notification/1"
NOTIFICATION_SOURCE = "pipeline.transforms.routing"

REASON_FIRST = "first notification"
REASON_NEW_ALERTS = "new alerts added"
REASON_SOME_RESOLVED = "some alerts resolved"
REASON_ALL_RESOLVED = "all alerts resolved"
REASON_REPEAT = "repeat interval elapsed"
REASONS = (REASON_FIRST, REASON_NEW_ALERTS, REASON_SOME_RESOLVED, REASON_ALL_RESOLVED, REASON_REPEAT)


def alert_set_hash(firing: list[str], resolved: list[str]) -> str:
    return fingerprint("exmail.alertset", sorted(firing), sorted(resolved))


def notification_id(receiver: str, group_key: str, set_hash: str, sequence_start: float, sequence: int) -> str:
    return fingerprint(NOTIFICATION_SCHEMA, receiver, group_key, set_hash, utc_iso(sequence_start), sequence)


@dataclass(slots=True)
class Notification:
    id: str
    receiver: str
    group_key: str
    group_id: str
    group_labels: dict[str, str]
    route_id: str
    reason: str
    sequence: int
    sequence_start: float
    created_at: float
    alerts: list[Alert]
    resolved: frozenset[str]  # fingerprints of the alerts that are resolved in this notification

    @property
    def firing_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.fingerprint not in self.resolved]

    @property
    def resolved_alerts(self) -> list[Alert]:
        return [a for a in self.alerts if a.fingerprint in self.resolved]

    @property
    def status(self) -> str:
        return "firing" if len(self.resolved) < len(self.alerts) else "resolved"

    @property
    def corp_id(self) -> str:
        corps = {a.labels.get("corp", "") for a in self.alerts}
        return corps.pop() if len(corps) == 1 and "" not in corps else "*"

    def title(self, lang: str = "en") -> str:
        firing = len(self.alerts) - len(self.resolved)
        subject = " ".join(v for _, v in sorted(self.group_labels.items())) or self._names()
        if lang == "zh":
            head = f"【告警 {firing} 条】" if firing else "【已恢复】"
        else:
            head = f"[FIRING:{firing}]" if firing else "[RESOLVED]"
        return f"{head} {subject}".strip()

    def summary(self, lang: str = "en") -> str:
        key = "summary_zh" if lang == "zh" else "summary"
        lines = []
        for a in self.alerts:
            text = a.annotations.get(key) or a.annotations.get("summary") or a.name
            if a.fingerprint in self.resolved:
                tag = "已恢复" if lang == "zh" else "resolved"
            else:
                tag = a.labels.get("severity", "firing")
            lines.append(f"[{tag}] {text}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        alerts = []
        for a in self.alerts:
            d = a.to_dict(self.created_at)
            d["status"] = "resolved" if a.fingerprint in self.resolved else "firing"
            alerts.append(d)
        return {
            "receiver": self.receiver,
            "status": self.status,
            "reason": self.reason,
            "group_key": self.group_key,
            "group_id": self.group_id,
            "group_labels": self.group_labels,
            "common_labels": _common(a.labels for a in self.alerts),
            "route_id": self.route_id,
            "sequence": self.sequence,
            "sequence_start": utc_iso(self.sequence_start),
            "firing": len(self.alerts) - len(self.resolved),
            "resolved": len(self.resolved),
            "alerts": alerts,
            "title": self.title("en"),
            "title_zh": self.title("zh"),
            "summary": self.summary("en"),
            "summary_zh": self.summary("zh"),
        }

    def to_envelope(self) -> Envelope:
        at = utc_iso(self.created_at)
        return Envelope(schema=NOTIFICATION_SCHEMA, id=self.id, corp_id=self.corp_id, source=NOTIFICATION_SOURCE,
                        occurred_at=at, observed_at=at, data=self.to_dict())

    def kafka_key(self) -> bytes:
        return self.receiver.encode()

    def _names(self) -> str:
        return " ".join(dict.fromkeys(a.name for a in self.alerts))


def _common(label_sets: Any) -> dict[str, str]:
    it = iter(label_sets)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for labels in it:
        for k in [k for k, v in common.items() if labels.get(k) != v]:
            del common[k]
    return common
