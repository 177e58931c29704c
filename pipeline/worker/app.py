"""The faust app: settings that matter for correctness and speed, and the agents picked by config."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames


def _idempotent_settings_extra(self: Any) -> dict[str, Any]:
    """faust has no setting for an idempotent producer under at-least-once (faust-and-clients.md §7)."""
    return {"acks": "all", "enable_idempotence": True}


faust_aiokafka.Producer._settings_extra = _idempotent_settings_extra  # type: ignore[method-assign]


@dataclass
class WorkerContext:
    """What agents share: the app, topic names, settings, and the side producer for DLQ/outcome records."""

    app: faust.App
    names: TopicNames
    kafka: KafkaSettings
    config: Any
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    on_stop: list[Callable[[], Any]] = field(default_factory=list)
    # run by the worker before faust stops its consumer (which waits for every taken message to be acked)
    before_stop: list[Callable[[], Any]] = field(default_factory=list)
    http_mounts: list[tuple[str, Any]] = field(default_factory=list)  # (prefix, aiohttp sub-app)
    _producer: EventProducer | None = None

    def topic(self, name: str, partitions: int | None = None) -> faust.TopicT:
        """A raw-bytes faust topic for a resolved name, created once."""
        if name not in self.topics:
            self.topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes,
                                               partitions=partitions or self.kafka.partitions)
        return self.topics[name]

    @property
    def producer(self) -> EventProducer:
        """Delivery-acknowledged producer for records that must not be lost (DLQ, deliveries, actions)."""
        if self._producer is None:
            self._producer = EventProducer(self.kafka)
        return self._producer


def build_app(app_id: str, kafka: KafkaSettings, *, config: Any = None,
              agents: list[Callable[[WorkerContext], None]] | None = None, **overrides: Any) -> WorkerContext:
    brokers = ";".join(f"kafka://{b.strip()}" for b in kafka.bootstrap.split(","))
    settings: dict[str, Any] = {
        "broker": brokers,
        "value_serializer": "raw",
        "key_serializer": "raw",
        "topic_partitions": kafka.partitions,
        "topic_replication_factor": kafka.replication_factor,
        "topic_disable_leader": True,
        "web_enabled": False,
        "web_tables_enabled": False,
        "consumer_auto_offset_reset": "earliest",
        "broker_commit_interval": 1.0,
        "broker_max_poll_records": 500,
        "broker_session_timeout": 15.0,
        "broker_heartbeat_interval": 1.5,
        "broker_rebalance_timeout": 30.0,
        "producer_compression_type": kafka.compression if kafka.compression != "none" else None,
        "producer_linger": 0.0,
        "producer_acks": -1,
        "store": "memory://",
        "table_standby_replicas": 0,
        "stream_wait_empty": True,
    }
    settings.update(overrides)
    app = faust.App(app_id, **settings)
    ctx = WorkerContext(app=app, names=TopicNames(kafka.topic_prefix), kafka=kafka, config=config)
    for install in agents or []:
        install(ctx)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]
    async def _close_side_producer(_app: Any, *_a: Any, **_: Any) -> None:
        for fn in ctx.on_stop:
            res = fn()
            if hasattr(res, "__await__"):
                await res
        if ctx._producer is not None:
            ctx._producer.close()

    return ctx
