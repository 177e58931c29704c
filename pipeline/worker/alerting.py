"""Alerting agents: rules (exmail.events -> exmail.alerts) and dispatch (exmail.alerts -> exmail.notifications).

Rule state (windows, first-seen sets) lives in a faust table co-partitioned with exmail.events (keyed by
corp/user). The dispatcher sees every alert (exmail.alerts has one partition), keeps its groups, notification
log and inhibition sources in memory and in the compacted topic exmail.state.alerting (written through faust's
producer, which faust flushes before committing input offsets), and re-arms its timers from there after a
restart. Silences are persisted in exmail.state.silences and served at /alerting/api/silences.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from typing import Any

import orjson

from pipeline.auth import KafkaOperatorLog
from pipeline.dlq import Origin, dead_letter
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer
from pipeline.kafka.state import CompactedState, read_compacted
from pipeline.metrics import DLQ_RECORDS, TRANSFORM_LATENCY, TRANSFORM_RECORDS
from pipeline.worker.app import WorkerContext

log = logging.getLogger(__name__)
SILENCE_WRITE_TIMEOUT_MS = 10_000


class TableRuleState:
    """RuleState over a faust table (str keys, JSON values as bytes); written only inside stream events."""

    def __init__(self, table: Any) -> None:
        self._table = table

    def get(self, key: str) -> Any | None:
        raw = self._table.get(key.encode())
        return None if raw is None else orjson.loads(raw)

    def put(self, key: str, value: Any) -> None:
        self._table[key.encode()] = orjson.dumps(value)

    def delete(self, key: str) -> None:
        self._table.pop(key.encode(), None)

    def items(self, prefix: str = "") -> Iterator[tuple[str, Any]]:
        p = prefix.encode()
        for k, v in list(self._table.items()):
            if k.startswith(p):
                yield k.decode(), orjson.loads(v)


def load_rule_pack(ctx: WorkerContext) -> Any:
    from pipeline.transforms.rules import load_default_rules, load_rules

    cfg = ctx.config.alerting.rules
    return load_rules(cfg.file, cfg.params) if cfg.file else load_default_rules(cfg.params)


def load_routing(ctx: WorkerContext) -> Any:
    from pipeline.transforms.routing import parse_routing_config

    routing = ctx.config.alerting.routing
    if not routing:
        raise SystemExit("alerting.routing is required to run the alerting agents (a route and its receivers)")
    return parse_routing_config(routing)


def install_rules(ctx: WorkerContext) -> None:
    from pipeline.transforms.rules import RuleEngine, RuleEvaluationError, RuleInputError

    app, names = ctx.app, ctx.names
    pack = load_rule_pack(ctx)
    events = ctx.topic(names.events)
    alerts = ctx.topic(names.alerts, partitions=1)
    dlq = ctx.topic(names.dlq)
    table = app.Table("alerting-rules", key_type=bytes, value_type=bytes, partitions=ctx.kafka.partitions)
    engine = RuleEngine(pack, TableRuleState(table), corp_domains=ctx.config.alerting.corp_domains)

    @app.agent(events, name="rules")
    async def rules_agent(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            t0 = time.perf_counter()
            try:
                env = Envelope.decode(event.value)
                raised = engine.evaluate(env, now=time.time())
            except (EnvelopeError, RuleInputError, RuleEvaluationError) as exc:
                letter = dead_letter(stage="rules", reason=str(exc), error_type=type(exc).__name__,
                                     origin=Origin(msg.topic, msg.partition, msg.offset, None), payload=event.value)
                await dlq.send(key=msg.topic.encode(), value=letter.encode())
                DLQ_RECORDS.labels("rules", type(exc).__name__).inc()
                continue
            now = time.time()
            for alert in raised:
                await alerts.send(key=alert.kafka_key(), value=alert.to_envelope(now).encode())
            TRANSFORM_RECORDS.labels("rules", "alerted" if raised else "ok").inc()
            TRANSFORM_LATENCY.labels("rules").observe(time.perf_counter() - t0)


def install_dispatch(ctx: WorkerContext) -> None:
    from pipeline.transforms.routing import Dispatcher, SilenceChange, SilenceStore, TickLoop, create_silences_app
    from pipeline.transforms.rules import Alert

    app, names = ctx.app, ctx.names
    routing = load_routing(ctx)
    alerts = ctx.topic(names.alerts, partitions=1)
    notifications = ctx.topic(names.notifications)
    dlq = ctx.topic(names.dlq)
    state_topic = ctx.topic(names.state("alerting"), partitions=1)
    ctx.topic(names.state("silences"), partitions=1)
    silences = SilenceStore()
    ctx.views["silences"] = silences
    silence_log = names.state("silences")
    # its own producer with a short delivery timeout: an operator waits for the answer, and a failed write
    # must answer 503 (and change nothing) within seconds, not after the shared producer's two minutes
    silence_producer = EventProducer(ctx.kafka, **{"message.timeout.ms": SILENCE_WRITE_TIMEOUT_MS})
    ctx.on_stop.append(lambda: silence_producer.close(5.0))

    async def publish_silences(changes: Any) -> None:
        """Durable (acks=all delivery reports) before the API applies the change or answers."""
        await silence_producer.send_many(
            [(silence_log, change.key(), change.value()) for change in changes if change.value() is not None])

    ctx.http_mounts.append(("/alerting", create_silences_app(
        silences, publish_silences, KafkaOperatorLog(ctx.producer, names.actions))))

    def write_state(key: bytes, value: bytes | None) -> None:
        state_topic.send_soon(key=key, value=value)

    @app.agent(alerts, name="dispatch")
    async def dispatch_agent(stream: Any) -> None:
        bootstrap = ctx.kafka.bootstrap
        stored = await asyncio.to_thread(read_compacted, bootstrap, names.state("alerting"))
        for key, value in (await asyncio.to_thread(read_compacted, bootstrap, names.state("silences"))).items():
            try:
                silences.apply(SilenceChange.from_record(key, value))
            except (ValueError, TypeError) as exc:  # one unreadable record must not keep every silence off
                log.error("silence log record %r skipped: %s", key, exc)
        dispatcher = Dispatcher(routing, CompactedState(write_state, stored), silences)
        ctx.views["dispatcher"] = dispatcher

        async def emit(out: list[Any]) -> None:
            for note in out:
                await notifications.send(key=note.kafka_key(), value=note.to_envelope().encode())

        ticker = TickLoop(dispatcher, emit, clock=time.time, max_sleep=0.5)
        tick_task = asyncio.create_task(ticker.run())
        try:
            async for event in stream.events():
                msg = event.message
                t0 = time.perf_counter()
                try:
                    alert = Alert.from_envelope(Envelope.decode(event.value))
                except (EnvelopeError, ValueError) as exc:
                    letter = dead_letter(stage="dispatch", reason=str(exc), error_type=type(exc).__name__,
                                         origin=Origin(msg.topic, msg.partition, msg.offset, None),
                                         payload=event.value)
                    await dlq.send(key=msg.topic.encode(), value=letter.encode())
                    DLQ_RECORDS.labels("dispatch", type(exc).__name__).inc()
                    continue
                await emit(dispatcher.ingest(alert, time.time()))
                ticker.wake()
                TRANSFORM_RECORDS.labels("dispatch", "ok").inc()
                TRANSFORM_LATENCY.labels("dispatch").observe(time.perf_counter() - t0)
        finally:
            ticker.stop()
            await tick_task


def install_alerting(ctx: WorkerContext) -> None:
    install_rules(ctx)
    install_dispatch(ctx)
