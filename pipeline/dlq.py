"""Dead letters: every invalid record, from any stage, goes to `exmail.dlq` with the reason, where it came
from and the payload with secrets scrubbed, so nothing bad is ever silently lost and `pipeline replay` can
re-inject it after a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson

from pipeline.envelope import Envelope, fingerprint, utc_iso
from pipeline.metrics import DLQ_RECORDS
from pipeline.secrets import scrub

DLQ_SCHEMA = "exmail.dlq/1"
MAX_PAYLOAD_BYTES = 256 * 1024


@dataclass(slots=True, frozen=True)
class Origin:
    topic: str
    partition: int | None = None
    offset: int | None = None
    key: str | None = None


def dead_letter(
    *,
    stage: str,
    reason: str,
    origin: Origin,
    payload: bytes | str | dict[str, Any] | None,
    corp_id: str = "unknown",
    error_type: str = "invalid",
    secrets: frozenset[str] = frozenset(),
) -> Envelope:
    """Build the DLQ envelope. The payload is kept as parsed JSON when it parses, else as text."""
    body: Any
    if isinstance(payload, bytes | bytearray):
        raw = bytes(payload[:MAX_PAYLOAD_BYTES])
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            body = raw.decode("utf-8", errors="replace")
    else:
        body = payload
    body = scrub(body, secrets)
    ident = fingerprint("dlq", origin.topic, origin.partition, origin.offset, stage, reason,
                        body if origin.offset is None else None)
    return Envelope(
        schema=DLQ_SCHEMA,
        id=ident,
        corp_id=corp_id,
        source=stage,
        occurred_at=utc_iso(),
        data={
            "stage": stage,
            "reason": scrub(reason, secrets),
            "error_type": error_type,
            "origin": {"topic": origin.topic, "partition": origin.partition, "offset": origin.offset,
                       "key": origin.key},
            "payload": body,
            "payload_truncated": isinstance(payload, bytes | bytearray) and len(payload) > MAX_PAYLOAD_BYTES,
        },
    )


class Letter(NamedTuple):
    """A dead letter ready to produce: (topic, key, value), the shape producers' batches take. The key is the
    origin topic, so the letters of one input topic stay in order."""

    topic: str
    key: bytes
    value: bytes


class DeadLetters:
    """The one way a stage dead-letters: build the scrubbed envelope, count it in
    `exmail_dlq_records_total{stage, error_type}` and hand back the record to produce with the stage's output
    (a batch unit's `produce_all`, a faust agent's `topic.send(key=, value=)`). Counting happens here so a
    letter is never produced uncounted or counted twice."""

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def __repr__(self) -> str:
        return f"DeadLetters({self.topic!r})"

    def letter(self, *, stage: str, reason: str, origin: Origin, payload: bytes | str | dict[str, Any] | None,
               error_type: str = "invalid", corp_id: str = "unknown",
               secrets: frozenset[str] = frozenset()) -> Letter:
        envelope = dead_letter(stage=stage, reason=reason, origin=origin, payload=payload, corp_id=corp_id,
                               error_type=error_type, secrets=secrets)
        return self.wrap(envelope, stage=stage, error_type=error_type)

    def wrap(self, envelope: Envelope, *, stage: str, error_type: str) -> Letter:
        """A DLQ envelope built elsewhere (a delivery sink masks its own live credentials in it)."""
        DLQ_RECORDS.labels(stage, error_type).inc()
        origin = envelope.data.get("origin") or {}
        return Letter(self.topic, str(origin.get("topic") or "").encode(), envelope.encode())
