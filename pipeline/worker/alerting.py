"""Alerting agents: rules (exmail.events -> exmail.alerts) and dispatch (exmail.alerts -> exmail.notifications).

Rule state (windows, first-seen sets) lives in a faust table co-partitioned with exmail.events (keyed by
corp/user); its changelog topic grows with exmail.events (CoPartitionedChangelog). Alerts are keyed by
`RoutingConfig.partition_key`, so each partition of exmail.alerts holds whole aggregation groups with the
inhibition sources that can mute them. Dispatch is a batch consumer group, not a faust agent
(pipeline/worker/_dispatch.py says why and how its state survives restarts and rebalances).
Silences are persisted in exmail.state.silences, followed by every worker, and served at /alerting/api/silences.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from pipeline.auth import KafkaOperatorLog
from pipeline.backoff import equal_jitter
from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer
from pipeline.metrics import TRANSFORM_LATENCY, TRANSFORM_RECORDS
from pipeline.transforms.routing.config import RoutingConfig
from pipeline.transforms.routing.http import create_silences_app
from pipeline.transforms.routing.silences import SilenceStore
from pipeline.transforms.rules import (
    Alert,
    RuleEngine,
    RuleEvaluationError,
    RuleInputError,
    RuleStateUnavailable,
    TableRuleState,
)
from pipeline.worker._dispatch import DispatchService
from pipeline.worker.app import ChangelogNotReady, CoPartitionedChangelog, WorkerContext
from pipeline.worker.lag import Watched

log = logging.getLogger(__name__)
SILENCE_WRITE_TIMEOUT_MS = 10_000
STATE_RETRY_INITIAL, STATE_RETRY_MAX = 0.5, 30.0


def routing_of(ctx: WorkerContext) -> RoutingConfig:
    """The route tree (validated with the config); the alerting agents cannot run without one."""
    routing = ctx.config.alerting.routing
    if routing is None:
        raise SystemExit("alerting.routing is required to run the alerting agents (a route and its receivers)")
    assert isinstance(routing, RoutingConfig)
    return routing


def install_rules(ctx: WorkerContext) -> None:
    app, names = ctx.app, ctx.names
    pack = ctx.config.alerting.rules.pack
    events = ctx.topic(names.events)
    alerts = ctx.topic(names.alerts)
    dlq = ctx.topic(names.dlq)
    dead = DeadLetters(names.dlq)
    alert_key = alert_key_for(ctx)
    table, changelog = ctx.copartitioned_table("alerting-rules", names.events)
    engine = RuleEngine(pack, TableRuleState(table), corp_domains=ctx.config.alerting.corp_domains)

    @app.agent(events, name="rules")
    async def rules_agent(stream: Any) -> None:
        async for event in stream.events():
            msg = event.message
            t0 = time.perf_counter()
            try:
                env = Envelope.decode(event.value)
                raised = await _evaluate(engine, changelog, env, msg)
            except (EnvelopeError, RuleInputError, RuleEvaluationError) as exc:
                letter = dead.letter(stage="rules", reason=str(exc), error_type=type(exc).__name__,
                                     origin=Origin(msg.topic, msg.partition, msg.offset, None), payload=event.value)
                await dlq.send(key=letter.key, value=letter.value)
                continue
            now = time.time()
            for alert in raised:
                await alerts.send(key=alert_key(alert), value=alert.to_envelope(now).encode())
            TRANSFORM_RECORDS.labels("rules", "alerted" if raised else "ok").inc()
            TRANSFORM_LATENCY.labels("rules").observe(time.perf_counter() - t0)


async def _evaluate(engine: RuleEngine, changelog: CoPartitionedChangelog, env: Envelope, msg: Any) -> list[Alert]:
    """Evaluate, waiting out a rule state that cannot be written (e.g. its changelog topic is not there yet, or
    not as wide as exmail.events after partitions were added and the growth has not gone through): the event is
    not at fault, so it is retried with backoff, never dead-lettered."""
    attempt = 0
    while True:
        try:
            await changelog.ready(msg.partition)  # state for this event goes to changelog partition msg.partition
            return engine.evaluate(env, now=time.time())
        except (RuleStateUnavailable, ChangelogNotReady) as exc:
            delay = equal_jitter(attempt + 1, STATE_RETRY_INITIAL, STATE_RETRY_MAX)
            attempt += 1
            log.error("rules: state unavailable at %s[%s]@%s (%s); retrying the event in %.1fs", msg.topic,
                      msg.partition, msg.offset, exc, delay)
            await asyncio.sleep(delay)


def alert_key_for(ctx: WorkerContext) -> Callable[[Any], bytes]:
    """How producers key exmail.alerts: by the routing's partition key (the fingerprint when this worker has
    no routing config, e.g. rules-only; then every alert must carry the partition labels' values itself)."""
    routing = ctx.config.alerting.routing
    if routing is None:
        return lambda alert: bytes(alert.kafka_key())
    return lambda alert: routing.partition_key(alert.labels)


def install_dispatch(ctx: WorkerContext) -> None:
    app, names = ctx.app, ctx.names
    routing = routing_of(ctx)
    # No faust agent follows the silences: the dispatch service reads and follows exmail.state.silences in every
    # worker itself, so `--agent dispatch` alone runs without faust (pipeline/worker/plain.py).
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

    # Its own producer with a 1 ms linger: a notification waits on the push -> delivery path for at most that
    # long, and records produced while a request is in flight still share the next one.
    producer = EventProducer(ctx.kafka, **{"linger.ms": 1})
    spread = frozenset(r.name for r in routing.receivers if ctx.config.alerting.spread_notifications
                       and (r.model_extra or {}).get("kind") == "webhook")
    service = DispatchService(kafka=ctx.kafka, names=names, group_id=f"{app.conf.id}-dispatch", routing=routing,
                              silences=silences, producer=producer, spread=spread)
    ctx.views["dispatcher"] = service  # the console's groups: this process's partitions
    ctx.watched.append(Watched("dispatch", service.group_id, lambda: [(names.alerts, p) for p in service.dispatchers]))
    ctx.run_service("dispatch", service, producer)


def install_alerting(ctx: WorkerContext) -> None:
    """Rules and dispatch in one process (`--agent rules` / `--agent dispatch` run them apart)."""
    install_rules(ctx)
    install_dispatch(ctx)
