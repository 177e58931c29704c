"""SIEM units: one batch consumer per worker.siem entry (any SIEM kind in pipeline/sinks/registry.py), each in its
own group "<app_id>.siem-<name>" reading exmail.events, so offsets commit only after that sink made the batch
durable and a slow sink never holds up the others."""

from __future__ import annotations

from typing import Any

from confluent_kafka import Message

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, TopicNames
from pipeline.kafka.batch_output import Record, produce_all
from pipeline.sinks._batching import BatchConfig, deliver_batch
from pipeline.sinks.registry import SiemEntry, parse_siem
from pipeline.worker.app import WorkerContext


def install_siem(ctx: WorkerContext) -> None:
    for entry in parse_siem(ctx.config.worker.siem):
        _install_one(ctx, entry)


class SiemBatch:
    """The batch handler of one SIEM sink: decode, send in chunks of the sink's `batch.max_records` (retried
    with backoff, refusals dead-lettered), then return so the offsets are committed."""

    def __init__(self, sink: Any, name: str, config: BatchConfig, producer: EventProducer,
                 names: TopicNames) -> None:
        self.sink = sink
        self.stage = f"siem:{name}"
        self._config = config
        self._producer = producer
        self._names = names
        self._letters = DeadLetters(names.dlq)

    async def __call__(self, batch: list[Message]) -> None:
        envs: list[Envelope] = []
        for msg in batch:
            value = msg.value()
            if value is None:
                continue
            try:
                envs.append(Envelope.decode(value))
            except EnvelopeError:
                continue  # the audit/normalize stages dead-letter malformed events
        letters: list[Record] = []
        events = self._names.events

        async def reject(items: list[tuple[Envelope, str]]) -> None:
            for env, reason in items:
                letters.append(self._letters.letter(stage=self.stage, reason=reason, error_type="rejected",
                                                    origin=Origin(events, None, None, None), payload=env.to_dict(),
                                                    corp_id=env.corp_id))

        step = self._config.max_records
        for i in range(0, len(envs), step):
            await deliver_batch(self.sink.name, self.sink.send, envs[i:i + step], self._config, dead_letter=reject)
        if letters:
            await produce_all(self._producer, letters, stage=self.stage)


def _install_one(ctx: WorkerContext, entry: SiemEntry) -> None:
    consumer = ctx.batch_consumer(f"siem-{entry.name}", [ctx.names.events])
    config: Any = entry.config  # every SIEM config carries its batching settings
    handler = SiemBatch(entry.build(), entry.name, config.batch, ctx.producer, ctx.names)

    async def close() -> None:
        await handler.sink.close()

    ctx.run_batch(consumer, handler, close=close)
