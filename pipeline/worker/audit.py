"""The audit unit: exmail.events and exmail.actions -> the audit store, offsets committed once a batch is durable.

A batch consumer (group "<app_id>.audit"): each batch is decoded once, written in one store transaction (every
chain partition it touches), and committed after the write returned. The bytes read from Kafka are stored as
the record and counted for sizes (no second serialization). A crash re-reads at most the batch in hand; the
store keeps each id once, so the rows are exactly once and the chains stay gapless. Several processes share
the partitions; each chain follows one partition, and a partition that moves continues its chain from the
head the store holds.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from confluent_kafka import Message

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import EnvelopeError
from pipeline.kafka import EventProducer, TopicNames
from pipeline.kafka.batch_output import Record, produce_all
from pipeline.sinks._batching import BatchConfig, deliver_batch
from pipeline.sinks.audit import AuditItem, AuditSink, AuditStore, index_envelope
from pipeline.sinks.registry import open_audit_store
from pipeline.worker.app import WorkerContext

STAGE = "audit"
ACTIONS_CHAIN_OFFSET = 10_000


class AuditBatch:
    """The batch handler: decode, one store transaction, dead letters delivered, then return (commit)."""

    def __init__(self, open_store: Callable[[], Awaitable[AuditStore]], config: BatchConfig,
                 producer: EventProducer, names: TopicNames) -> None:
        self._open_store = open_store
        self._sink: AuditSink | None = None
        self._config = config
        self._producer = producer
        self._names = names
        self._letters = DeadLetters(names.dlq)

    async def start(self) -> None:
        self._sink = AuditSink(await self._open_store(), self._config)

    async def close(self) -> None:
        if self._sink is not None:
            await self._sink.close()

    async def __call__(self, batch: list[Message]) -> None:
        sink = self._sink
        assert sink is not None, "start() first"
        items: list[AuditItem] = []
        letters: list[Record] = []
        actions, dead = self._names.actions, self._letters
        for msg in batch:
            value = msg.value()
            topic = msg.topic() or ""
            partition = msg.partition() or 0
            try:
                if value is None:
                    raise EnvelopeError("record has no value (tombstone)")
                env = index_envelope(value)  # only what the columns read; `value` is stored as the record
            except EnvelopeError as exc:
                letters.append(dead.letter(stage=STAGE, reason=str(exc), error_type="EnvelopeError",
                                           origin=Origin(topic, partition, msg.offset(), None), payload=value))
                continue
            # action records chain separately from events of the same partition number
            chain = partition + ACTIONS_CHAIN_OFFSET if topic == actions else partition
            items.append(AuditItem(env, chain, value))

        async def reject(refused: list[tuple[AuditItem, str]]) -> None:
            for item, reason in refused:
                letters.append(dead.letter(stage=STAGE, reason=reason, error_type="rejected",
                                           origin=Origin(self._names.events, item.partition, None, None),
                                           payload=item.raw, corp_id=item.envelope.corp_id))

        if items:
            await deliver_batch(sink.name, sink.send, items, self._config, dead_letter=reject)
        if letters:
            await produce_all(self._producer, letters, stage=STAGE)


def install_audit(ctx: WorkerContext) -> None:
    cfg = ctx.config.worker.audit
    names = ctx.names
    consumer = ctx.batch_consumer(STAGE, [names.events, names.actions])
    handler = AuditBatch(lambda: open_audit_store(cfg), cfg.batch, ctx.producer, names)
    ctx.run_batch(consumer, handler, start=handler.start, close=handler.close)
