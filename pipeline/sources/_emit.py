"""Producing from sources: delivery-report accounting, metrics, and pipeline_error events."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from pipeline import metrics
from pipeline.envelope import Envelope, fingerprint, record_key, utc_iso
from pipeline.kafka import EventProducer, TopicNames
from pipeline.records import RAW_SCHEMAS
from pipeline.secrets import scrub_text

log = logging.getLogger(__name__)


@dataclass(slots=True, frozen=True)
class Outgoing:
    topic: str
    key: bytes
    envelope: Envelope


class Emitter:
    """Sends envelopes and reports, per record, whether the broker acknowledged it."""

    def __init__(self, producer: EventProducer, names: TopicNames, *, source: str = "exmail-ingest") -> None:
        self.producer = producer
        self.names = names
        self.source = source

    def __repr__(self) -> str:
        return f"Emitter(prefix={self.names.prefix!r})"

    async def deliver(self, items: Sequence[Outgoing], *, corp: str, stream: str) -> list[BaseException | None]:
        """Send all; returns None for each delivered record and the exception for each failed one."""
        if not items:
            return []
        results = await self.producer.send_batch((i.topic, i.key, i.envelope) for i in items)
        outcome: list[BaseException | None] = [r if isinstance(r, BaseException) else None for r in results]
        delivered = sum(1 for r in outcome if r is None)
        if delivered:
            metrics.RECORDS_PRODUCED.labels(corp, stream).inc(delivered)
        failed = len(outcome) - delivered
        if failed:
            metrics.SOURCE_ERRORS.labels(corp, stream, "delivery").inc(failed)
        return outcome

    async def deliver_values(self, topic: str, keys: Sequence[bytes], values: Sequence[bytes], *, corp: str,
                             stream: str) -> list[BaseException | None]:
        """`deliver` for records already encoded (the log pollers' hot path): one topic, parallel keys/values."""
        if len(keys) != len(values):
            raise ValueError(f"{len(keys)} keys for {len(values)} values")
        if not values:
            return []
        results = await self.producer.send_values(topic, keys, values)
        failed = len(results) - results.count(None)
        outcome: list[BaseException | None] = list(results) if not failed else [
            r if isinstance(r, BaseException) else None for r in results]
        failed = len(outcome) - outcome.count(None)
        if failed < len(outcome):
            metrics.RECORDS_PRODUCED.labels(corp, stream).inc(len(outcome) - failed)
        if failed:
            metrics.SOURCE_ERRORS.labels(corp, stream, "delivery").inc(failed)
        return outcome

    async def deliver_all(self, items: Sequence[Outgoing], *, corp: str, stream: str) -> None:
        """Send all and raise the first failure (after every report is in)."""
        for failure in await self.deliver(items, corp=corp, stream=stream):
            if failure is not None:
                raise failure

    async def error(
        self,
        *,
        corp: str,
        stream: str,
        stage: str,
        exc: BaseException,
        window: tuple[date, date] | None = None,
        gap_risk: bool = False,
        reason: str | None = None,
    ) -> None:
        """Count the error and publish it to exmail.raw.pipeline_error (never raises)."""
        label = reason or error_reason(exc.__cause__ if exc.__cause__ is not None else exc)
        metrics.SOURCE_ERRORS.labels(corp, stream, label).inc()
        message = scrub_text(str(exc)) or type(exc).__name__
        log.warning("%s %s %s failed: %s", corp, stream, stage, message)
        cause = exc if getattr(exc, "errcode", None) is not None else (exc.__cause__ or exc)
        errcode = getattr(cause, "errcode", None)
        errmsg = getattr(cause, "errmsg", None)
        observed = utc_iso()
        data: dict[str, Any] = {
            "stream": stream,
            "stage": stage,
            "error_type": type(exc).__name__,
            "errcode": errcode if isinstance(errcode, int) else None,
            "errmsg": scrub_text(errmsg) if isinstance(errmsg, str) else None,
            "message": message,
            "window": {"begin_date": window[0].isoformat(), "end_date": window[1].isoformat()} if window else None,
            "gap_risk": gap_risk,
        }
        env = Envelope(
            schema=RAW_SCHEMAS["pipeline_error"],
            id=fingerprint("pipeline_error", corp, stream, stage, data["error_type"], message, observed),
            corp_id=corp,
            source=self.source,
            occurred_at=observed,
            observed_at=observed,
            data=data,
        )
        try:
            await self.producer.send(self.names.raw("pipeline_error"), env, record_key(corp, stream))
        except Exception as send_exc:  # the error topic being unreachable must not hide the original error
            log.error("could not publish pipeline_error for %s %s: %s", corp, stream, send_exc)


def error_reason(exc: BaseException) -> str:
    """A bounded metrics label for an exception."""
    errcode = getattr(exc, "errcode", None)
    if isinstance(errcode, int):
        return f"errcode_{errcode}"
    reason = getattr(exc, "reason", None)
    if isinstance(reason, str) and reason.isidentifier():
        return reason
    return type(exc).__name__
