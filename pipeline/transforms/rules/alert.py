"""The alert record on exmail.alerts: what a rule hit becomes, and what the routing stage groups.

Shaped like an Alertmanager alert: identifying `labels` (their hash is the `fingerprint`, so repeats of one
condition group together), non-identifying `annotations`, and an activity range `starts_at`..`ends_at`. An
alert is resolved at `now` when `ends_at <= now`; rules set `ends_at = max(event time, now) + resolve_timeout`
so an alert that is not refreshed resolves by itself, as Alertmanager does for alerts without EndsAt.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

from pipeline.envelope import Envelope, fingerprint, iso_seconds, utc_iso

ALERT_SCHEMA = "exmail.alert/1"
ALERT_SOURCE = "pipeline.transforms.rules"
MAX_EVENT_IDS = 10


class AlertError(ValueError):
    """A payload is not a valid alert; the message names the field."""


def alert_fingerprint(rule: str, labels: dict[str, str]) -> str:
    """Stable across runs and processes: the rule name and the sorted identifying labels, never an event id."""
    return fingerprint("exmail.alert", rule, sorted(labels.items()))


@dataclass(slots=True)
class Alert:
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: float
    ends_at: float
    rule: str = ""
    fingerprint: str = ""
    event_ids: list[str] = field(default_factory=list)
    action: str | None = None
    sso_user: str | None = None

    def __post_init__(self) -> None:
        if not self.fingerprint:
            self.fingerprint = alert_fingerprint(self.rule or self.labels.get("alertname", ""), self.labels)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", self.rule)

    @property
    def corp_id(self) -> str:
        return self.labels.get("corp", "")

    def resolved_at(self, now: float) -> bool:
        return self.ends_at <= now

    def status_at(self, now: float) -> str:
        return "resolved" if self.ends_at <= now else "firing"

    def to_dict(self, now: float) -> dict[str, Any]:
        """Wire form (RFC 3339 times) with `status` as of `now`."""
        return {
            "fingerprint": self.fingerprint,
            "status": self.status_at(now),
            "rule": self.rule,
            "labels": self.labels,
            "annotations": self.annotations,
            "starts_at": utc_iso(self.starts_at),
            "ends_at": utc_iso(self.ends_at),
            "event_ids": self.event_ids,
            "action": self.action,
            "sso_user": self.sso_user,
        }

    def to_envelope(self, now: float, source: str = ALERT_SOURCE) -> Envelope:
        """An exmail.alerts record. `now` is the emission time: it decides `status` and `observed_at`;
        `source` names the emitting unit (rules by default; the actions service emits operator alerts).

        The id covers fingerprint, start and status: a refresh of a firing alert keeps its id (idempotent
        sinks keep one row per firing episode), its resolution gets another.
        """
        status = self.status_at(now)
        start = utc_iso(self.starts_at)
        return Envelope(
            schema=ALERT_SCHEMA,
            id=fingerprint(ALERT_SCHEMA, self.fingerprint, start, status),
            corp_id=self.corp_id or "-",
            source=source,
            occurred_at=start if status == "firing" else utc_iso(self.ends_at),
            observed_at=utc_iso(now),
            data=self.to_dict(now),
        )

    def kafka_key(self) -> bytes:
        return self.fingerprint.encode()

    @classmethod
    def from_dict(cls, data: Any) -> Alert:
        """Parse the wire form (or the envelope's `data`); raises AlertError naming the bad field."""
        if not isinstance(data, dict):
            raise AlertError(f"alert must be a JSON object, got {type(data).__name__}")
        labels = data.get("labels")
        if not isinstance(labels, dict) or not labels:
            raise AlertError("alert field 'labels' must be a non-empty object")
        if not _all_str(labels.values()) or not _all_str(labels):
            raise AlertError("alert field 'labels' must map strings to strings")
        annotations = data.get("annotations") or {}
        if not isinstance(annotations, dict) or not _all_str(annotations.values()):
            raise AlertError("alert field 'annotations' must map strings to strings")
        starts_at = _time(data, "starts_at")
        ends_at = _time(data, "ends_at")
        event_ids = data.get("event_ids") or []
        if not isinstance(event_ids, list) or not all(isinstance(e, str) for e in event_ids):
            raise AlertError("alert field 'event_ids' must be a list of strings")
        fp = data.get("fingerprint") or ""
        if not isinstance(fp, str):
            raise AlertError("alert field 'fingerprint' must be a string")
        for key in ("rule", "action", "sso_user"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise AlertError(f"alert field {key!r} must be a string or null")
        return cls(labels=dict(labels), annotations=dict(annotations), starts_at=starts_at, ends_at=ends_at,
                   rule=data.get("rule") or "", fingerprint=fp, event_ids=list(event_ids),
                   action=data.get("action"), sso_user=data.get("sso_user"))

    @classmethod
    def from_envelope(cls, env: Envelope) -> Alert:
        if env.schema != ALERT_SCHEMA:
            raise AlertError(f"expected schema {ALERT_SCHEMA!r}, got {env.schema!r}")
        return cls.from_dict(env.data)

    def to_state(self) -> dict[str, Any]:
        """Compact form for the state store (float times, short keys)."""
        out: dict[str, Any] = {"l": self.labels, "a": self.annotations, "s": self.starts_at, "e": self.ends_at,
                               "r": self.rule, "f": self.fingerprint, "i": self.event_ids}
        if self.action is not None:
            out["x"] = self.action
        if self.sso_user is not None:
            out["u"] = self.sso_user
        return out

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> Alert:
        return cls(labels=st["l"], annotations=st["a"], starts_at=st["s"], ends_at=st["e"], rule=st["r"],
                   fingerprint=st["f"], event_ids=st["i"], action=st.get("x"), sso_user=st.get("u"))


_STR = frozenset((str,))


def _all_str(values: Collection[Any]) -> bool:
    """Every value a str: exact types in one C-level pass (what JSON gives), else isinstance for subclasses."""
    return _STR.issuperset(map(type, values)) or all(isinstance(v, str) for v in values)


def _time(data: dict[str, Any], key: str) -> float:
    value = data.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        raise AlertError(f"alert field {key!r} must be an RFC 3339 time")
    try:
        return iso_seconds(value)
    except ValueError as exc:
        raise AlertError(f"alert field {key!r}: {exc}") from exc
