"""Dead letters: every invalid record, from any stage, goes to `exmail.dlq` with the reason, where it came
from and the payload with secrets scrubbed, so nothing bad is ever silently lost and `pipeline replay` can
re-inject it after a fix."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from pipeline.envelope import Envelope, fingerprint, utc_iso
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
