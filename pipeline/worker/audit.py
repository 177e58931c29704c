"""The audit agent: exmail.events and exmail.actions -> the audit store, offsets acked only once a batch is durable.

The stream runs with manual acks; the sink's batching loop calls back with the events of each durable batch,
and faust commits up to the highest contiguous acked offset, so a crash re-reads at most the unwritten tail
(the store ignores ids it already holds).
"""

from __future__ import annotations

from typing import Any

from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.metrics import DLQ_RECORDS
from pipeline.worker.app import WorkerContext

STAGE = "audit"
ACTIONS_CHAIN_OFFSET = 10_000


def install_audit(ctx: WorkerContext) -> None:
    from pipeline.sinks.audit import AuditItem, AuditSink, open_store

    app, names = ctx.app, ctx.names
    cfg = ctx.config.worker.audit
    ctx.topic(names.events)
    ctx.topic(names.actions)
    source = app.topic(names.events, names.actions, key_type=bytes, value_type=bytes)
    dlq = ctx.topic(names.dlq)
    actions_topic = names.actions

    @app.agent(source, name="audit")
    async def audit_agent(stream: Any) -> None:
        manual = stream.noack()

        async def ack(tokens: list[Any]) -> None:
            for event in tokens:
                await manual.ack(event)

        async def reject(items: list[tuple[AuditItem, str]]) -> None:
            for item, reason in items:
                letter = dead_letter(stage=STAGE, reason=reason, error_type="rejected",
                                     origin=Origin(names.events, item.partition, None, None),
                                     payload=item.envelope.to_dict(), corp_id=item.envelope.corp_id)
                await dlq.send(key=names.events.encode(), value=letter.encode())
                DLQ_RECORDS.labels(STAGE, "rejected").inc()

        store = await open_store(cfg)
        sink = AuditSink(store, cfg.batch, on_ack=ack, dead_letter=reject)
        await sink.start()
        try:
            async for event in manual.events():
                msg = event.message
                try:
                    env = Envelope.decode(event.value)
                except EnvelopeError as exc:
                    letter = dead_letter(stage=STAGE, reason=str(exc), error_type="EnvelopeError",
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=msg.topic.encode(), value=letter.encode())
                    DLQ_RECORDS.labels(STAGE, "EnvelopeError").inc()
                    await manual.ack(event)
                    continue
                # action records chain separately from events of the same partition number
                chain = msg.partition + ACTIONS_CHAIN_OFFSET if msg.topic == actions_topic else msg.partition
                await sink.put(env, partition=chain, token=event)
        finally:
            await sink.close()
