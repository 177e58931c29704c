"""Operator actions as audit events: silence created/expired, action approved/rejected/undone.

Each is an `exmail.operator/1` envelope on exmail.actions (so the audit agent stores it next to the action
records), naming the authenticated principal, never a name from the request body.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from pipeline.auth._authn import Principal
from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.kafka import EventProducer

OPERATOR_SCHEMA = "exmail.operator/1"
OPERATOR_SOURCE = "pipeline.auth"


def operator_event(principal: Principal, action: str, target_type: str, target_id: str, *,
                   corp_id: str = "all", detail: dict[str, Any] | None = None, remote: str | None = None,
                   now: float | None = None) -> Envelope:
    """`action` like "silence.created"; `detail` holds non-secret specifics (matchers, comment, reason)."""
    at = time.time() if now is None else now
    data: dict[str, Any] = {
        "event": {"kind": "operator", "dataset": "exmail.operator", "action": action, "outcome": "success"},
        "user": {"name": principal.name},
        "actor": principal.to_dict(),
        "target": {"type": target_type, "id": target_id},
        "detail": detail or {},
    }
    if remote:
        data["source"] = {"ip": remote}
    return Envelope(schema=OPERATOR_SCHEMA, id=fingerprint(OPERATOR_SCHEMA, action, target_id, principal.name,
                                                            uuid.uuid4().hex),
                    corp_id=corp_id or "all", source=OPERATOR_SOURCE, occurred_at=utc_iso(at), data=data)


class OperatorLog(Protocol):
    async def record(self, event: Envelope) -> None:
        """Return once the event is durable."""
        ...


class MemoryOperatorLog:
    """Collects events (unit tests)."""

    def __init__(self) -> None:
        self.events: list[Envelope] = []

    def __repr__(self) -> str:
        return f"MemoryOperatorLog({len(self.events)})"

    async def record(self, event: Envelope) -> None:
        self.events.append(event)


class KafkaOperatorLog:
    """Produces to the deployment's exmail.actions with the delivery-acknowledged producer."""

    def __init__(self, producer: EventProducer, topic: str) -> None:
        self._producer = producer
        self._topic = topic

    def __repr__(self) -> str:
        return f"KafkaOperatorLog({self._topic!r})"

    async def record(self, event: Envelope) -> None:
        name = event.data.get("user", {}).get("name", "?")
        await self._producer.send(self._topic, event, f"operator/{name}")
