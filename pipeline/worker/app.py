"""The faust app: settings that matter for correctness and speed, and the agents picked by config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import faust
from faust.transport.drivers import aiokafka as faust_aiokafka

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames
from pipeline.kafka.batch import BatchConsumer, Handler
from pipeline.worker.lag import Watched

if TYPE_CHECKING:  # pipeline.config composes worker/config.py, which this package provides: types only
    from pipeline.config import PipelineConfig

log = logging.getLogger(__name__)
BATCH_STOP_SECONDS = 60.0


def _idempotent_settings_extra(self: Any) -> dict[str, Any]:
    """faust has no setting for an idempotent producer under at-least-once (faust-and-clients.md §7)."""
    return {"acks": "all", "enable_idempotence": True}


faust_aiokafka.Producer._settings_extra = _idempotent_settings_extra  # type: ignore[method-assign]


class _Service(Protocol):
    """A consumer-group loop the worker runs (DispatchService, DeliveryService)."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class WorkerContext:
    """What agents share: the app, topic names, settings, and the side producer for DLQ/outcome records."""

    app: faust.App
    names: TopicNames
    kafka: KafkaSettings
    config: PipelineConfig
    topics: dict[str, faust.TopicT] = field(default_factory=dict)
    on_stop: list[Callable[[], Any]] = field(default_factory=list)
    # run by the worker before faust stops its consumer (which waits for every taken message to be acked)
    before_stop: list[Callable[[], Any]] = field(default_factory=list)
    http_mounts: list[tuple[str, Any]] = field(default_factory=list)  # (prefix, aiohttp sub-app)
    # live objects agents expose to read-only views (the console): "silences", "dispatcher", "actions"
    views: dict[str, Any] = field(default_factory=dict)
    batch_consumers: list[BatchConsumer] = field(default_factory=list)  # each has .progress (for /healthz)
    watched: list[Watched] = field(default_factory=list)  # other consumer loops (dispatch, delivery), for /healthz
    tasks: list[Callable[[], Awaitable[None]]] = field(default_factory=list)  # long-running, started with the worker
    _producer: EventProducer | None = None

    def topic(self, name: str, partitions: int | None = None) -> faust.TopicT:
        """A raw-bytes faust topic for a resolved name, created once."""
        if name not in self.topics:
            self.topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes,
                                               partitions=partitions or self.kafka.partitions)
        return self.topics[name]

    def task(self, fn: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
        """Register a coroutine function to run for the worker's lifetime (under faust or without it)."""
        self.tasks.append(fn)
        return fn

    def run_service(self, name: str, service: _Service, producer: EventProducer) -> None:
        """Run a consumer-group service (dispatch, delivery) as a task of the worker; at stop, `service.stop()`,
        wait for its loop, close its producer. A loop that fails crashes the faust app when there is one (alone,
        the failed task stops the process: plain.py), so a stage that cannot make its output durable never idles
        silently."""
        running: dict[str, asyncio.Task[None]] = {}

        async def _run_service() -> None:
            task = asyncio.current_task()
            if task is not None:
                running["task"] = task
            try:
                await service.run()
            except Exception as exc:
                log.exception("%s stopped: %s", name, exc)
                if self.app.agents:
                    await self.app.crash(exc)
                raise

        _run_service.__name__ = _run_service.__qualname__ = f"service_{name}"
        self.task(_run_service)

        async def _stop() -> None:
            service.stop()
            task = running.get("task")
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            left = await asyncio.to_thread(producer.close)
            if left:
                log.error("%s: %d records were not acknowledged at stop; they are redone at the next start", name,
                          left)

        self.on_stop.append(_stop)

    def batch_consumer(self, unit: str, topics: list[str], *, continue_app_group: bool = False) -> BatchConsumer:
        """A consumer-group member for one batch unit; its group is "<app_id>.<unit>", so every process with
        the same app id shares the unit's partitions. `continue_app_group`: partitions this group never
        committed start where the faust app's group got to (only for topics no faust agent reads any more)."""
        return BatchConsumer(unit, self.kafka.bootstrap, f"{self.app.conf.id}.{unit}", topics,
                             self.config.worker.consume,
                             legacy_group=self.app.conf.id if continue_app_group else None)

    def run_batch(self, consumer: BatchConsumer, handler: Handler, *,
                  start: Callable[[], Awaitable[None]] | None = None,
                  close: Callable[[], Awaitable[None]] | None = None) -> None:
        """Run `consumer` with `handler` as a task of the worker: `start()` first (open stores, rebuild state),
        `close()` last; a clean stop finishes and commits the batch in hand, then leaves the group."""
        self.batch_consumers.append(consumer)
        running: dict[str, asyncio.Task[None]] = {}

        async def _run_batch_unit() -> None:
            task = asyncio.current_task()
            if task is not None:
                running["task"] = task
            try:
                if start is not None:
                    await start()
                await consumer.run(handler)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("%s: the batch consumer stopped on an error", consumer.name)
                raise
            finally:
                if close is not None:
                    with contextlib.suppress(Exception):
                        await close()

        _run_batch_unit.__name__ = f"batch_{consumer.name}"
        _run_batch_unit.__qualname__ = _run_batch_unit.__name__
        self.task(_run_batch_unit)

        async def _stop() -> None:
            consumer.stop()
            task = running.get("task")
            if task is not None and not task.done():
                with contextlib.suppress(Exception, asyncio.CancelledError):
                    await asyncio.wait_for(asyncio.shield(task), BATCH_STOP_SECONDS)

        self.on_stop.append(_stop)

    async def shutdown(self) -> None:
        """The on_stop hooks (batch units finish their batch and leave their groups), then the side producer."""
        for fn in self.on_stop:
            res = fn()
            if hasattr(res, "__await__"):
                await res
        if self._producer is not None:
            self._producer.close()

    @property
    def producer(self) -> EventProducer:
        """Delivery-acknowledged producer for records that must not be lost (DLQ, deliveries, actions)."""
        if self._producer is None:
            self._producer = EventProducer(self.kafka)
        return self._producer


def build_app(app_id: str, kafka: KafkaSettings, *, config: PipelineConfig,
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
        # aiokafka's default is 5 min: a topic created after the consumer subscribed, or partitions added to one,
        # stay unread that long (issue 11's cold-start stall; test_worker_cold_start.py)
        "consumer_metadata_max_age_ms": 30_000,
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
        await ctx.shutdown()

    return ctx
