"""The delivery stage's input: one notification (a group of alerts for one receiver), as the grouping stage
writes it to `exmail.notifications` (the envelope's `data`)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pipeline.envelope import Envelope

AlertStatus = Literal["firing", "resolved"]
SEVERITIES = ("critical", "high", "warning", "info")


class NotificationError(ValueError):
    """A notification record is malformed; the message names the field."""


@dataclass(slots=True, frozen=True)
class AlertItem:
    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: AlertStatus = "firing"
    severity: str = "warning"
    summary: str = ""
    starts_at: str | None = None
    ends_at: str | None = None
    fingerprint: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"labels": dict(self.labels), "annotations": dict(self.annotations), "status": self.status,
                "severity": self.severity, "summary": self.summary, "starts_at": self.starts_at,
                "ends_at": self.ends_at, "fingerprint": self.fingerprint}


@dataclass(slots=True, frozen=True)
class SsoLink:
    """A signed, short-lived link to our SSO redirector (a bearer link: never logged)."""

    label: str
    url: str = field(repr=False)

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "url": self.url}


@dataclass(slots=True, frozen=True)
class Notification:
    """`idempotency_key` identifies the notification (receiver + group + content hash, as the nflog keys
    it); a redelivery of the same notification carries the same key. `recipients` are Exmail userids the
    alerts concern, for destinations that address people (WeCom app)."""

    receiver: str
    group_key: str
    idempotency_key: str
    alerts: tuple[AlertItem, ...]
    title: str = ""
    text: str = ""
    markdown: str = ""
    sso_links: tuple[SsoLink, ...] = field(default=(), repr=False)
    recipients: tuple[str, ...] = ()
    corp_id: str = ""
    reason: str = ""

    @property
    def id(self) -> str:
        return self.idempotency_key

    @property
    def status(self) -> AlertStatus:
        return "firing" if any(a.status == "firing" for a in self.alerts) or not self.alerts else "resolved"

    @property
    def severity(self) -> str:
        """The most severe severity among the firing alerts (or all alerts when none fires)."""
        pool = [a.severity for a in self.alerts if a.status == "firing"] or [a.severity for a in self.alerts]
        ranked = sorted(pool, key=lambda s: SEVERITIES.index(s) if s in SEVERITIES else len(SEVERITIES))
        return ranked[0] if ranked else "info"

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver, "group_key": self.group_key, "idempotency_key": self.idempotency_key,
            "alerts": [a.to_dict() for a in self.alerts], "title": self.title, "text": self.text,
            "markdown": self.markdown, "sso_links": [s.to_dict() for s in self.sso_links],
            "recipients": list(self.recipients), "corp_id": self.corp_id, "reason": self.reason,
        }

    @classmethod
    def from_dict(cls, obj: Any) -> Notification:
        if not isinstance(obj, Mapping):
            raise NotificationError(f"notification must be a JSON object, got {type(obj).__name__}")
        for name in ("receiver", "group_key", "idempotency_key"):
            if not isinstance(obj.get(name), str) or not obj[name]:
                raise NotificationError(f"notification field {name!r} must be a non-empty string")
        alerts = obj.get("alerts", [])
        if not isinstance(alerts, list):
            raise NotificationError("notification field 'alerts' must be a list")
        links = obj.get("sso_links") or []
        if not isinstance(links, list):
            raise NotificationError("notification field 'sso_links' must be a list")
        recipients = obj.get("recipients") or []
        if not isinstance(recipients, list) or not all(isinstance(r, str) for r in recipients):
            raise NotificationError("notification field 'recipients' must be a list of strings")
        return cls(
            receiver=obj["receiver"], group_key=obj["group_key"], idempotency_key=obj["idempotency_key"],
            alerts=tuple(_alert(a, i) for i, a in enumerate(alerts)),
            title=_str(obj, "title"), text=_str(obj, "text"), markdown=_str(obj, "markdown"),
            sso_links=tuple(_link(s, i) for i, s in enumerate(links)), recipients=tuple(recipients),
            corp_id=_str(obj, "corp_id"), reason=_str(obj, "reason"),
        )

    @classmethod
    def from_envelope(cls, envelope: Envelope) -> Notification:
        n = cls.from_dict(envelope.data)
        return n if n.corp_id else cls.from_dict({**envelope.data, "corp_id": envelope.corp_id})


def _str(obj: Mapping[str, Any], name: str, where: str = "notification") -> str:
    value = obj.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise NotificationError(f"{where} field {name!r} must be a string")
    return value


def _str_map(value: Any, where: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise NotificationError(f"{where} must be an object of strings")
    return {str(k): str(v) for k, v in value.items()}


def _alert(obj: Any, index: int) -> AlertItem:
    where = f"alerts[{index}]"
    if not isinstance(obj, Mapping):
        raise NotificationError(f"{where} must be an object")
    status = obj.get("status", "firing")
    if status not in ("firing", "resolved"):
        raise NotificationError(f"{where}.status must be 'firing' or 'resolved', got {status!r}")
    return AlertItem(
        labels=_str_map(obj.get("labels"), f"{where}.labels"),
        annotations=_str_map(obj.get("annotations"), f"{where}.annotations"),
        status=status, severity=_str(obj, "severity", where) or "warning", summary=_str(obj, "summary", where),
        starts_at=_str(obj, "starts_at", where) or None, ends_at=_str(obj, "ends_at", where) or None,
        fingerprint=_str(obj, "fingerprint", where) or None,
    )


def _link(obj: Any, index: int) -> SsoLink:
    where = f"sso_links[{index}]"
    if not isinstance(obj, Mapping) or not isinstance(obj.get("url"), str):
        raise NotificationError(f"{where} must be an object with a string 'url'")
    return SsoLink(label=_str(obj, "label", where) or "SSO", url=obj["url"])
