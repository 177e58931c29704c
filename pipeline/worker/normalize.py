"""The normalize unit: exmail.raw.* and hr.lifecycle -> exmail.events, bad records -> exmail.dlq.

A batch consumer (group "<app_id>.normalize"): each batch is decoded and normalized as a list, every output
record (events and dead letters) is produced in one `send_batch`, and the input offsets are committed once all
of them are acknowledged. Each event is serialized once; those bytes are what Kafka, and through it the audit
store, receive. Events keep their key "corp_id/userid" and are produced with murmur2_random, so the faust
rules agent's table stays co-partitioned with exmail.events. Directory enrichment reads a per-process copy of
the users (pipeline/transforms/normalize/directory_copy.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka import Message

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, TopicNames
from pipeline.kafka.batch_output import Record, produce_all
from pipeline.kafka.reader import KafkaReader
from pipeline.metrics import TRANSFORM_LATENCY, TRANSFORM_RECORDS
from pipeline.records import RAW_SCHEMAS
from pipeline.transforms.normalize import DirectoryLookup, NormalizeError, event_key, normalize
from pipeline.transforms.normalize.directory_copy import DirectoryFeed
from pipeline.worker.app import WorkerContext

STAGE = "normalize"


def source_topics(names: TopicNames) -> list[str]:
    return [names.raw(kind) for kind in RAW_SCHEMAS] + [names.hr_lifecycle]


class NormalizeBatch:
    """The batch handler: raw records -> events and dead letters, delivered before it returns."""

    def __init__(self, producer: EventProducer, names: TopicNames, directory: DirectoryLookup | None = None,
                 catch_up: Callable[[], object] | None = None) -> None:
        self._producer = producer
        self._events = names.events
        self._letters = DeadLetters(names.dlq)
        self._directory = directory
        self._catch_up = catch_up

    def transform(self, batch: list[Message]) -> tuple[list[Record], int]:
        """(records to produce, how many were dead-lettered)."""
        if self._catch_up is not None:
            self._catch_up()
        out: list[Record] = []
        letters = 0
        events, directory = self._events, self._directory
        for msg in batch:
            value = msg.value()
            try:
                if value is None:
                    raise EnvelopeError("record has no value (tombstone)")
                ev = normalize(Envelope.decode(value), directory)
            except (EnvelopeError, NormalizeError) as exc:
                topic = msg.topic() or ""
                key = msg.key()
                out.append(self._letters.letter(
                    stage=STAGE, reason=getattr(exc, "reason", None) or str(exc), error_type=type(exc).__name__,
                    origin=Origin(topic, msg.partition(), msg.offset(),
                                  key.decode("utf-8", "replace") if key else None),
                    payload=value))
                letters += 1
                continue
            out.append((events, event_key(ev), ev.encode()))
        return out, letters

    async def __call__(self, batch: list[Message]) -> None:
        started = time.perf_counter()
        records, letters = self.transform(batch)
        await produce_all(self._producer, records, stage=STAGE)
        ok = len(batch) - letters
        if ok:
            TRANSFORM_RECORDS.labels(STAGE, "ok").inc(ok)
        if letters:
            TRANSFORM_RECORDS.labels(STAGE, "dead_lettered").inc(letters)
        TRANSFORM_LATENCY.labels(STAGE).observe((time.perf_counter() - started) / len(batch))


def install_normalize(ctx: WorkerContext) -> None:
    names = ctx.names
    feed = DirectoryFeed(KafkaReader(ctx.kafka.bootstrap), ctx.kafka.bootstrap, names.state("directory"))
    # before the batch path, the faust normalize agent committed these topics in the app's group, and no
    # faust agent reads them any more: an upgraded deployment continues where it stopped
    consumer = ctx.batch_consumer(STAGE, source_topics(names), continue_app_group=True)
    handler = NormalizeBatch(ctx.producer, names, feed.copy, feed.catch_up)

    async def close() -> None:
        feed.close()

    ctx.run_batch(consumer, handler, start=feed.load, close=close)
