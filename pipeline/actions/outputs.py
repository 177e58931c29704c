"""Where action records (exmail.actions) and operator alerts (exmail.alerts) go.

Alerts are built with the one `Alert` type of pipeline/transforms/rules/alert.py (labels, annotations,
fingerprint over rule + sorted labels, id over fingerprint + start + status), so routing, silences and
delivery treat them like any rule's alert. They never carry an `action`, so they cannot trigger one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Protocol

from pipeline.envelope import Envelope
from pipeline.kafka import EventProducer, TopicNames
from pipeline.transforms.rules.alert import Alert

ALERT_SOURCE = "pipeline.transforms.actions"  # a wire value, kept from before the move to pipeline/actions


class ActionOutput(Protocol):
    """`record` -> exmail.actions (key corp_id/userid), `alert` -> exmail.alerts (key alert fingerprint).
    Both must return only once the record is durably accepted (a delivery report)."""

    async def record(self, key: bytes, envelope: Envelope) -> None: ...

    async def alert(self, key: bytes, envelope: Envelope) -> None: ...


class MemoryActionOutput:
    """Collects what would be produced (tests, dry demos)."""

    def __init__(self) -> None:
        self.records: list[Envelope] = []
        self.alerts: list[Envelope] = []

    def __repr__(self) -> str:
        return f"MemoryActionOutput({len(self.records)} records, {len(self.alerts)} alerts)"

    async def record(self, key: bytes, envelope: Envelope) -> None:
        self.records.append(envelope)

    async def alert(self, key: bytes, envelope: Envelope) -> None:
        self.alerts.append(envelope)


class KafkaActionOutput:
    """Produces with the delivery-acknowledged producer to the deployment's exmail.actions / exmail.alerts.

    With `partition_key` (the routing's `RoutingConfig.partition_key`), alerts are keyed by their labels as the
    dispatchers of a partitioned exmail.alerts expect; without it, by the key the caller gives."""

    def __init__(self, producer: EventProducer, names: TopicNames,
                 partition_key: Callable[[Mapping[str, str]], bytes] | None = None) -> None:
        self._producer = producer
        self._names = names
        self._partition_key = partition_key

    def __repr__(self) -> str:
        return f"KafkaActionOutput({self._names.actions!r}, {self._names.alerts!r})"

    async def record(self, key: bytes, envelope: Envelope) -> None:
        await self._producer.send(self._names.actions, envelope, key)

    async def alert(self, key: bytes, envelope: Envelope) -> None:
        labels = envelope.data.get("labels") if isinstance(envelope.data, dict) else None
        if self._partition_key is not None and isinstance(labels, dict):
            key = self._partition_key(labels)
        await self._producer.send(self._names.alerts, envelope, key)


def build_alert(
    *,
    rule: str,
    corp_id: str,
    labels: dict[str, str],
    annotations: dict[str, str],
    now: float,
    resolve_after: float,
    event_ids: list[str],
) -> Envelope:
    """A firing exmail.alert/1 envelope that resolves by itself `resolve_after` seconds from now."""
    alert = Alert(
        labels={"alertname": rule, "corp": corp_id, **labels},
        annotations=annotations,
        starts_at=now,
        ends_at=now + resolve_after,
        rule=rule,
        event_ids=event_ids,
    )
    return alert.to_envelope(now, source=ALERT_SOURCE)
