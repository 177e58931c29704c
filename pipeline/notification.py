"""The one record on exmail.notifications (key = receiver): a group of alerts for one receiver, to send once.

Routing (pipeline/transforms/routing) builds it and encodes it (`to_envelope`); the delivery runtime decodes it
(`from_envelope`, for the receiver's language and with its signed SSO links) and the sinks read it. It lives
here, beside the envelope, because both stages use it and neither may import the other.

Wire form (`exmail.notification/1`, schemas/notification.v1.json): the envelope's `id` is the notification id
(deterministic, so a re-emitted notification keeps it, and delivery's idempotency key), its `corp_id` the
alerts' common corp or "*"; `data` holds receiver, group, sequence, the alerts with their status, and the
English and Chinese title and summary. Decoding accepts every record routing wrote since /1 and names the bad
field in a NotificationError otherwise.

Not on the wire: `sso_links` (bearer links, signed per delivery), `text`/`markdown` (extra body a caller adds).
`title` and each alert's `summary` are in the language the record was decoded for.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeGuard

import orjson

from pipeline.envelope import Envelope, iso_seconds, utc_iso

NOTIFICATION_SCHEMA = "exmail.notification/1"
NOTIFICATION_SOURCE = "pipeline.transforms.routing"

AlertStatus = Literal["firing", "resolved"]
SEVERITIES = ("critical", "high", "warning", "info")
_STATUSES = frozenset(("firing", "resolved"))
_STR_TYPES = frozenset((str,))
_OPTIONAL_TYPES = frozenset((str, type(None)))
_TEXTS = ("reason", "group_id", "route_id", "corp_id")
_OPTIONAL = ("starts_at", "ends_at", "fingerprint", "rule", "action", "sso_user")
_ISO: dict[float, str] = {}
_RANKS = {s: i for i, s in enumerate(SEVERITIES)}


def _severity_rank(severity: str) -> int:
    return _RANKS.get(severity, len(SEVERITIES))


def iso(ts: float) -> str:
    """utc_iso(ts), remembered: the alerts and notifications of a burst share a few start, end and creation
    times, and formatting one costs more than the rest of an alert's wire form."""
    text = _ISO.get(ts)
    if text is None:
        if len(_ISO) >= 4096:
            _ISO.clear()
        text = _ISO[ts] = utc_iso(ts)
    return text


class NotificationError(ValueError):
    """A notification record is malformed; the message names the field."""


class LinkSigner(Protocol):
    """Signs a one-click SSO login link for a mailbox of a corp (pipeline.sso.SsoLinkSigner)."""

    def link(self, corp_id: str, user: str) -> str: ...


@dataclass(slots=True)
class AlertItem:
    """One alert as it rides in a notification: its labels and annotations, its status at the notification's
    time, RFC 3339 times; `severity` and `summary` (in the decoded language) are what messages show."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    status: AlertStatus = "firing"
    severity: str = "warning"
    summary: str = ""
    starts_at: str | None = None
    ends_at: str | None = None
    fingerprint: str | None = None
    rule: str = ""
    event_ids: tuple[str, ...] = ()
    action: str | None = None
    sso_user: str | None = None

    @property
    def name(self) -> str:
        return self.labels.get("alertname", self.rule)

    def to_dict(self) -> dict[str, Any]:
        """The documented form sinks publish (the webhook payload's alerts)."""
        return {"labels": dict(self.labels), "annotations": dict(self.annotations), "status": self.status,
                "severity": self.severity, "summary": self.summary, "starts_at": self.starts_at,
                "ends_at": self.ends_at, "fingerprint": self.fingerprint}

    def to_wire(self) -> dict[str, Any]:
        """The alert on exmail.notifications (exmail.alert/1's alert with its status at the notification)."""
        return {"fingerprint": self.fingerprint, "status": self.status, "rule": self.rule, "labels": self.labels,
                "annotations": self.annotations, "starts_at": self.starts_at, "ends_at": self.ends_at,
                "event_ids": list(self.event_ids), "action": self.action, "sso_user": self.sso_user}


@dataclass(slots=True, frozen=True)
class SsoLink:
    """A signed, short-lived link to our SSO redirector (a bearer link: never logged, never on a topic)."""

    label: str
    url: str = field(repr=False)

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "url": self.url}


@dataclass(slots=True)
class Notification:
    """`idempotency_key` is the notification id: hash(receiver, group key, alert-set hash, sequence start,
    sequence), so a redelivery of the same notification carries the same key. `recipients` are the Exmail
    userids the alerts concern (their `user` label), for destinations that address people (WeCom app)."""

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
    group_id: str = ""
    group_labels: Mapping[str, str] = field(default_factory=dict)
    route_id: str = ""
    sequence: int = 0
    sequence_start: float = 0.0
    created_at: float = 0.0

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
        return min(pool, key=_severity_rank) if pool else "info"  # the first of the most severe, as a stable sort

    @property
    def firing_alerts(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "firing"]

    @property
    def resolved_alerts(self) -> list[AlertItem]:
        return [a for a in self.alerts if a.status == "resolved"]

    @property
    def resolved(self) -> frozenset[str]:
        """Fingerprints of the alerts resolved in this notification."""
        return frozenset(a.fingerprint or "" for a in self.alerts if a.status == "resolved")

    def default_title(self, lang: str = "en") -> str:
        """The title routing writes (`title` / `title_zh` on the wire): the firing count and the group."""
        return wire_title(self.group_labels, self.alerts, lang)

    def default_summary(self, lang: str = "en") -> str:
        """One line per alert (`summary` / `summary_zh` on the wire)."""
        key = "summary_zh" if lang == "zh" else "summary"
        lines = []
        for a in self.alerts:
            text = a.annotations.get(key) or a.annotations.get("summary") or a.name
            if a.status == "resolved":
                tag = "已恢复" if lang == "zh" else "resolved"
            else:
                tag = a.labels.get("severity", "firing")
            lines.append(f"[{tag}] {text}")
        return "\n".join(lines)

    def to_dict(self) -> dict[str, Any]:
        """The envelope's `data` on exmail.notifications."""
        alerts = self.alerts
        firing = sum(1 for a in alerts if a.status == "firing")
        subject = _subject(self.group_labels, alerts)
        return {
            "receiver": self.receiver,
            "status": "firing" if firing or not alerts else "resolved",
            "reason": self.reason,
            "group_key": self.group_key,
            "group_id": self.group_id,
            "group_labels": self.group_labels,
            "common_labels": _common(a.labels for a in alerts),
            "route_id": self.route_id,
            "sequence": self.sequence,
            "sequence_start": iso(self.sequence_start),
            "firing": firing,
            "resolved": len(alerts) - firing,
            "alerts": [a.to_wire() for a in alerts],
            "title": f"[FIRING:{firing}] {subject}".strip() if firing else f"[RESOLVED] {subject}".strip(),
            "title_zh": f"【告警 {firing} 条】 {subject}".strip() if firing else f"【已恢复】 {subject}".strip(),
            "summary": self.default_summary("en"),
            "summary_zh": self.default_summary("zh"),
        }

    def to_envelope(self) -> Envelope:
        at = iso(self.created_at)
        return Envelope(schema=NOTIFICATION_SCHEMA, id=self.idempotency_key, corp_id=self.corp_id or "*",
                        source=NOTIFICATION_SOURCE, occurred_at=at, observed_at=at, data=self.to_dict())

    def encode(self) -> bytes:
        """The record on exmail.notifications: `to_envelope().encode()` byte for byte, without the Envelope."""
        at = iso(self.created_at)
        return orjson.dumps({"schema": NOTIFICATION_SCHEMA, "id": self.idempotency_key,
                             "corp_id": self.corp_id or "*", "source": NOTIFICATION_SOURCE, "observed_at": at,
                             "occurred_at": at, "data": self.to_dict()})

    def kafka_key(self) -> bytes:
        return self.receiver.encode()

    @classmethod
    def from_envelope(cls, envelope: Envelope, language: str = "en", signer: LinkSigner | None = None) -> Notification:
        """Decode a record for a receiver reading `language` ("zh" or "en"); with `signer`, each firing
        alert naming an `sso_user` gets a signed login link."""
        return cls.from_dict(envelope.data, envelope.id, envelope.corp_id, language, signer,
                             envelope.occurred_at)

    @classmethod
    def from_dict(cls, data: Any, id: str, corp_id: str = "", language: str = "en",
                  signer: LinkSigner | None = None, created_at: str | None = None) -> Notification:
        """Decode the envelope's `data` (the envelope supplies id, corp and creation time)."""
        if type(data) is not dict:
            raise NotificationError(f"notification must be a JSON object, got {type(data).__name__}")
        get = data.get
        receiver, group_key = get("receiver"), get("group_key")
        if type(receiver) is not str or not receiver:
            raise NotificationError("notification field 'receiver' must be a non-empty string")
        if type(group_key) is not str or not group_key:
            raise NotificationError("notification field 'group_key' must be a non-empty string")
        if type(id) is not str or not id:
            raise NotificationError("notification field 'id' must be a non-empty string")
        raw_alerts = get("alerts")
        if type(raw_alerts) is not list:
            raise NotificationError("notification field 'alerts' must be a list")
        zh = language == "zh"
        alerts = tuple([_alert(a, i, zh) for i, a in enumerate(raw_alerts)])
        title_field = "title_zh" if zh and get("title_zh") else "title"
        texts = (get(title_field), get("reason"), get("group_id"), get("route_id"), get("corp_id"))
        if not _OPTIONAL_TYPES.issuperset(map(type, texts)):
            bad = next(k for k, v in zip((title_field, *_TEXTS), texts, strict=True)
                       if v is not None and type(v) is not str)
            raise NotificationError(f"notification field {bad!r} must be a string")
        title, reason, group_id, route_id, corp = texts
        corp = corp or corp_id
        group_labels = get("group_labels")
        if group_labels is None:
            group_labels = {}
        elif not _is_str_map(group_labels):
            raise NotificationError("notification field 'group_labels' must be an object of strings")
        sequence = get("sequence", 0)
        if type(sequence) is not int or sequence < 0:
            raise NotificationError("notification field 'sequence' must be a non-negative integer")
        users = [a.labels["user"] for a in alerts if a.labels.get("user")]
        links: dict[SsoLink, None] = {}
        if signer is not None:
            label = "登录邮箱 " if zh else "Open mailbox "
            for a in alerts:
                if a.sso_user and a.status == "firing":
                    links[SsoLink(label + a.sso_user, signer.link(a.labels.get("corp") or corp, a.sso_user))] = None
        created = _time(created_at, "envelope field 'occurred_at'")
        started = get("sequence_start")  # a group's first notification starts its sequence: parse once
        return cls(receiver, group_key, id, alerts, title or "", "", "", tuple(links), tuple(dict.fromkeys(users)),
                   corp, reason or "", group_id or "", group_labels, route_id or "", sequence,
                   created if started == created_at else _time(started, "notification field 'sequence_start'"),
                   created)


def wire_title(group_labels: Mapping[str, str], alerts: tuple[AlertItem, ...], lang: str = "en") -> str:
    """The title routing writes for a group's alerts (`title` / `title_zh` on the wire)."""
    firing = sum(1 for a in alerts if a.status == "firing")
    subject = _subject(group_labels, alerts)
    if lang == "zh":
        head = f"【告警 {firing} 条】" if firing else "【已恢复】"
    else:
        head = f"[FIRING:{firing}]" if firing else "[RESOLVED]"
    return f"{head} {subject}".strip()


def _subject(group_labels: Mapping[str, str], alerts: tuple[AlertItem, ...]) -> str:
    """The group's label values, or the alert names for a group without labels."""
    return " ".join(v for _, v in sorted(group_labels.items())) or " ".join(dict.fromkeys(a.name for a in alerts))


def _is_str_map(value: Any) -> TypeGuard[dict[str, str]]:
    """A JSON object of strings (JSON keys are always strings)."""
    return type(value) is dict and _STR_TYPES.issuperset(map(type, value.values()))


def _time(value: Any, where: str) -> float:
    if value is None:
        return 0.0
    try:
        if type(value) is not str:
            raise TypeError(value)
        return iso_seconds(value)
    except (TypeError, ValueError):
        raise NotificationError(f"{where} must be an RFC 3339 time, got {value!r}") from None


def _alert(obj: Any, index: int, zh: bool) -> AlertItem:
    if type(obj) is not dict:
        raise NotificationError(f"alerts[{index}] must be an object")
    get = obj.get
    status = get("status", "firing")
    if status not in _STATUSES:
        raise NotificationError(f"alerts[{index}].status must be 'firing' or 'resolved', got {status!r}")
    labels = get("labels")
    if not _is_str_map(labels):
        raise NotificationError(f"alerts[{index}].labels must be an object of strings")
    ann = get("annotations")
    if ann is None:
        ann = {}
    elif not _is_str_map(ann):
        raise NotificationError(f"alerts[{index}].annotations must be an object of strings")
    event_ids = get("event_ids")
    if event_ids is None:
        event_ids = ()
    elif type(event_ids) is not list or not _STR_TYPES.issuperset(map(type, event_ids)):
        raise NotificationError(f"alerts[{index}].event_ids must be a list of strings")
    optional = (get("starts_at"), get("ends_at"), get("fingerprint"), get("rule"), get("action"), get("sso_user"))
    if not _OPTIONAL_TYPES.issuperset(map(type, optional)):
        bad = next(k for k, v in zip(_OPTIONAL, optional, strict=True) if v is not None and type(v) is not str)
        raise NotificationError(f"alerts[{index}].{bad} must be a string or null")
    starts_at, ends_at, fp, rule, action, sso_user = optional
    summary = (ann.get("summary_zh") if zh else None) or ann.get("summary") or labels.get("alertname", "")
    return AlertItem(labels, ann, status, labels.get("severity", "warning"), summary, starts_at or None,
                     ends_at or None, fp or None, rule or "", tuple(event_ids), action or None, sso_user or None)


def _common(label_sets: Iterable[Mapping[str, str]]) -> dict[str, str]:
    it = iter(label_sets)
    first = next(it, None)
    if first is None:
        return {}
    common = dict(first)
    for labels in it:
        for k in [k for k, v in common.items() if labels.get(k) != v]:
            del common[k]
    return common
