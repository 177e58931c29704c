"""The faust app: settings that matter for correctness and speed, and the agents picked by config."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, cast

import faust
from aiokafka import AIOKafkaClient
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TableT

from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, grow_topics, partition_counts
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


class ChangelogNotReady(RuntimeError):
    """A table write for a partition its changelog topic (or the producer's view of it) does not have yet."""


class CoPartitionedChangelog:
    """Keeps a faust table's changelog topic as wide as the source topic the table is co-partitioned with.

    faust writes the state of an event read from source partition p to changelog partition p
    (Collection.partition_for_key) and never widens the changelog, and aiokafka's producer refuses a partition
    its metadata does not list: `AssertionError('Unrecognized partition')` in faust's ProducerBuffer, which
    crashes the app. So the changelog is grown before faust starts (`align_at_start`) and, when the source grows
    under the running worker, at the rebalance that assigns the new partitions (`on_assigned`) and, whatever
    happened there, before the first write for a new partition (`ready`, called before every write: a dict
    lookup unless the partition is new). Faust's own consumer sees the grown changelog at its next
    metadata refresh (30 s) and rebalances; until then it is only written to, never read."""

    def __init__(self, table: TableT, source: str, bootstrap: str) -> None:
        self.table, self.source, self.bootstrap = table, source, bootstrap
        self._lock = asyncio.Lock()
        self._width_at_start = 0  # the changelog's partitions after align_at_start (the broker's count)

    @property
    def changelog(self) -> str:
        return self.table.changelog_topic.get_topic_name()

    def align_at_start(self) -> None:
        """Before faust starts (blocking): a changelog behind the source grows; a missing one is declared by
        faust as wide as the source (not `kafka.partitions`, which a grown source has left behind)."""
        counts = partition_counts(self.bootstrap, [self.source, self.changelog])
        source_n, changelog_n = counts.get(self.source), counts.get(self.changelog)
        if source_n is None:
            return  # the source is created with kafka.partitions, as faust creates the changelog
        self._width_at_start = source_n
        if changelog_n is None:
            self.table.partitions = self.table.changelog_topic.partitions = source_n
        elif changelog_n > source_n:
            raise SystemExit(f"{self.changelog} has {changelog_n} partitions but {self.source} has {source_n}: "
                             f"the source topic was recreated narrower; Kafka cannot remove partitions, so delete "
                             f"the changelog topic (the table then starts empty) and start again")
        else:
            self._grow(source_n)

    async def ready(self, partition: int) -> None:
        """Return once the table may write state for source partition `partition`: the changelog has it and
        faust's producer knows it. Raises ChangelogNotReady when that cannot be made true now (broker down, or
        the broker's metadata does not list the new partitions yet): the caller retries the event later."""
        if self._wide_enough(partition):
            return
        async with self._lock:
            client = self._client()
            if client.cluster.partitions_for_topic(self.changelog) is None:
                await client.add_topic(self.changelog)  # the first write: the producer never asked for the topic
            if self._wide_enough(partition):
                return
            try:
                await asyncio.to_thread(self._grow, max(partition + 1, self._source_partitions()))
            except Exception as exc:
                raise ChangelogNotReady(f"growing {self.changelog} failed: {type(exc).__name__}: {exc}") from exc
            await client.force_metadata_update()
            if not self._wide_enough(partition):
                raise ChangelogNotReady(f"the producer's metadata does not list partition {partition} of "
                                        f"{self.changelog} yet")
            # faust checks once per source topic that both are equally wide, by its consumer's metadata, which
            # does not list the grown partitions before its next refresh: the check above is the same, by the
            # broker (faust-streaming 0.15.3 Collection._verify_source_topic_partitions)
            verified = getattr(self.table, "_verified_source_topics_for_partitions", None)
            if isinstance(verified, set):
                verified.add(self.source)

    async def on_assigned(self, assigned: Iterable[Any]) -> None:
        """At a rebalance that assigns source partitions the changelog lacks, grow it there: faust's consumer
        fetches nothing of the new assignment before its rebalance callbacks return, so the agent's first event
        on a new partition finds the changelog ready instead of growing it while faust finishes recovery. A
        failure here only leaves the growth to `ready`."""
        partitions = [tp.partition for tp in assigned if tp.topic == self.source]
        if not partitions or max(partitions) < self._width_at_start:
            return  # nothing the changelog lacked at start: no metadata round trip inside the rebalance
        try:
            await self.ready(max(partitions))
        except Exception as exc:  # an exception in a rebalance callback would crash the faust app
            log.warning("%s not grown at the rebalance (%s): it is grown before the first write that needs it",
                        self.changelog, exc)

    def _wide_enough(self, partition: int) -> bool:
        known = self._client().cluster.partitions_for_topic(self.changelog)
        return known is not None and len(known) >= max(partition + 1, self._source_partitions())

    def _source_partitions(self) -> int:
        return self.table.app.consumer.topic_partitions(self.source) or 0

    def _client(self) -> AIOKafkaClient:
        """The client of faust's aiokafka producer, whose metadata decides which partitions it accepts."""
        producer = cast(faust_aiokafka.Producer, self.table.app.producer)
        return producer._ensure_producer().client

    def _grow(self, at_least: int = 0) -> None:
        """Grow the changelog to the source's partition count at the broker (or `at_least`, if wider)."""
        wanted = max(at_least, partition_counts(self.bootstrap, [self.source]).get(self.source, 0))
        for topic, (old, new) in grow_topics(self.bootstrap, {self.changelog: wanted}).items():
            log.info("grew %s from %d to %d partitions (as wide as %s)", topic, old, new, self.source)


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
    changelogs: list[CoPartitionedChangelog] = field(default_factory=list)  # aligned with their sources at start
    _producer: EventProducer | None = None

    def topic(self, name: str, partitions: int | None = None) -> faust.TopicT:
        """A raw-bytes faust topic for a resolved name, created once."""
        if name not in self.topics:
            self.topics[name] = self.app.topic(name, key_type=bytes, value_type=bytes,
                                               partitions=partitions or self.kafka.partitions)
        return self.topics[name]

    def copartitioned_table(self, name: str, source: str) -> tuple[TableT, CoPartitionedChangelog]:
        """A bytes -> bytes faust table co-partitioned with the topic `source`, and the guard that keeps its
        changelog as wide as `source`: await `guard.ready(partition)` before writing for an event."""
        table = self.app.Table(name, key_type=bytes, value_type=bytes, partitions=self.kafka.partitions)
        guard = CoPartitionedChangelog(table, source, self.kafka.bootstrap)
        self.changelogs.append(guard)

        @self.app.on_partitions_assigned.connect  # type: ignore[arg-type]
        async def _grow_changelog(_app: Any, assigned: set[Any], **_: Any) -> None:
            await guard.on_assigned(assigned)

        return table, guard

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
