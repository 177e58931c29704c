"""Producing a batch's output once: every record in one `send_batch`, failed deliveries retried with backoff,
returning only when all are acknowledged (so the input offsets may be committed)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

from pipeline.backoff import equal_jitter
from pipeline.kafka import EventProducer

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes]


async def produce_all(producer: EventProducer, records: Sequence[Record], *, stage: str,
                      retry_initial: float = 0.5, retry_max: float = 30.0) -> None:
    """Deliver every (topic, key, value); a record the broker refused (after librdkafka's own retries) is
    sent again after a backoff, forever: the caller must not commit its input before this returns, and
    downstream stages are idempotent by envelope id, so a repeat is harmless and a loss is not."""
    pending = list(records)
    attempt = 0
    while pending:
        outcomes = await producer.send_batch(pending)
        failed = [rec for rec, out in zip(pending, outcomes, strict=True) if out is not None]
        if not failed:
            return
        first = next(o for o in outcomes if o is not None)
        delay = equal_jitter(attempt + 1, retry_initial, retry_max)
        attempt += 1
        log.error("%s: %d of %d records not delivered (%s); retrying in %.1fs", stage, len(failed), len(pending),
                  first, delay)
        await asyncio.sleep(delay)
        pending = failed
