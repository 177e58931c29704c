"""Dispatch in batches: exmail.alerts -> one Dispatcher per assigned partition -> exmail.notifications.

Why not a faust agent: faust spends ~130 µs per consumed or sent message before any Kafka I/O, more than the
dispatch decision itself; confluent-kafka's `consume(1000)` costs under 2 µs a message and the notifications
and state records of a whole batch go out with one `enqueue_batch`.

Scale-out: exmail.alerts is keyed by `RoutingConfig.partition_key` (the labels every route groups by and
every inhibit rule's `equal` lists), so one partition holds whole aggregation groups and every inhibition
source that can mute them. Workers in the consumer group `<app id>-dispatch` share the partitions
(cooperative-sticky rebalancing); each assigned partition gets its own Dispatcher.

State: a partition's dispatcher state (groups, notification log, inhibition sources) is written to the
compacted exmail.state.alerting under `p<partition>/<key>`; repeated writes of one key in a batch or tick
are merged into one record. Keys without the prefix (the one-partition layout) belong to partition 0 and
are moved under `p0/` on first load. A worker assigned a partition reads its keys back before ingesting.

Silences: every worker reads exmail.state.silences at start and then follows it, so a silence set through
any worker's API mutes alerts on every partition.

Durability: a batch's offsets are committed only after the broker acknowledged every notification and state
record that batch (and the ticks before it) produced; on revocation the producer is flushed and the revoked
partitions are committed before the partition moves. A round's records are produced as soon as the round ends
(`EventProducer.start_batch`), also while earlier rounds wait for their acknowledgements, and rounds settle in
order, so a notification is never held back behind another round's acknowledgements.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, Message, TopicPartition

from pipeline.dlq import DeadLetters, Origin
from pipeline.envelope import Envelope, EnvelopeError
from pipeline.kafka import EventProducer, KafkaSettings, TopicNames, ensure_topics
from pipeline.kafka.batch import BatchRamp, LoadingPartitions, commit_owned
from pipeline.kafka.producer import DeliveryError
from pipeline.kafka.reader import TopicTail, scan
from pipeline.kafka.state import CompactedState
from pipeline.logfilter import KAFKA_LOGGER
from pipeline.metrics import TRANSFORM_RECORDS
from pipeline.transforms.routing.config import RoutingConfig
from pipeline.transforms.routing.dispatcher import Dispatcher
from pipeline.transforms.routing.silences import SilenceChange, SilenceStore
from pipeline.transforms.rules.alert import Alert

log = logging.getLogger(__name__)

Record = tuple[str, bytes | None, bytes | None]  # a None value is a tombstone


def _state_prefix(partition: int) -> str:
    return f"p{partition}/"


def _owner(key: str) -> tuple[int | None, str]:
    """(partition, key inside that partition's state); (None, key) for a key of the one-partition layout."""
    head, sep, rest = key.partition("/")
    if sep and head[:1] == "p" and head[1:].isdigit():
        return int(head[1:]), rest
    return None, key


class DispatchService:
    """The dispatch loop of one worker process; `run()` until `stop()`."""

    def __init__(self, *, kafka: KafkaSettings, names: TopicNames, group_id: str, routing: RoutingConfig,
                 silences: SilenceStore, producer: EventProducer, batch_size: int = 1000,
                 poll_interval: float = 0.005, clock: Callable[[], float] = time.time,
                 spread: frozenset[str] = frozenset()) -> None:
        self.kafka, self.names, self.group_id = kafka, names, group_id
        self.routing, self.silences, self.producer = routing, silences, producer
        self.batch_size, self.poll_interval, self.clock = batch_size, poll_interval, clock
        self.spread = spread  # receivers whose notifications are keyed by group (alerting.spread_notifications)
        self.dispatchers: dict[int, Dispatcher] = {}
        self._writes: dict[int, dict[bytes, bytes | None]] = {}  # per partition: state key -> last value
        self._legacy: list[Record] = []
        self._out: list[Record] = []
        self._consumed: dict[int, int] = {}
        self._inflight: deque[tuple[asyncio.Future[list[DeliveryError | None]], dict[int, int]]] = deque()
        self._holding = LoadingPartitions(names.alerts)  # assigned, their records held until their state is read
        self._loads: set[asyncio.Task[None]] = set()
        self._stopped = False
        self._consumer: Consumer | None = None
        self._ok = TRANSFORM_RECORDS.labels("dispatch", "ok")
        self._letters = DeadLetters(names.dlq)

    def stop(self) -> None:
        self._stopped = True

    def view(self, now: float) -> list[dict[str, Any]]:
        """Every group of the partitions this process dispatches, as Dispatcher.view gives them (the console)."""
        groups = [g for d in list(self.dispatchers.values()) for g in d.view(now)]
        return sorted(groups, key=lambda g: str(g["group_key"]))

    # --- the loop

    async def run(self) -> None:
        names = self.names
        await asyncio.to_thread(ensure_topics, self.kafka.bootstrap, prefix=names.prefix,
                                partitions=self.kafka.partitions, replication_factor=self.kafka.replication_factor)
        tail = await asyncio.to_thread(self._read_silences)
        consumer = self._consumer = Consumer({
            "bootstrap.servers": self.kafka.bootstrap, "group.id": self.group_id,
            "partition.assignment.strategy": "cooperative-sticky", "enable.auto.commit": False,
            "auto.offset.reset": "earliest", "session.timeout.ms": 15000, "heartbeat.interval.ms": 1500,
            "log_level": 3,  # fetch.wait.max.ms stays 500: the broker answers a fetch as soon as data arrives
            "logger": KAFKA_LOGGER,  # through the connection-log limiter (a line per reconnect otherwise)
        })
        consumer.subscribe([names.alerts], on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        log.info("dispatch: consuming %s as group %s", names.alerts, self.group_id)
        try:
            ramp = BatchRamp(self.batch_size)
            while not self._stopped:
                batch = consumer.consume(ramp.size, 0)
                ramp.took(len(batch))
                for load in [t for t in self._loads if t.done()]:
                    self._loads.discard(load)
                    load.result()  # a state read that failed stops dispatch loudly (app.crash)
                self._follow(tail)
                now = self.clock()
                ok = 0
                for msg in batch:
                    ok += self._ingest(msg, now)
                if ok:
                    self._ok.inc(ok)  # once per batch: a metric update costs as much as a state write
                self._tick(now)
                self._settle()
                self._ship()
                await asyncio.sleep(self._idle(now) if not batch else 0)
        finally:
            for load in self._loads:
                load.cancel()
            for _ in range(2):  # the batch on its way, then what came meanwhile
                if self._inflight:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(asyncio.shield(self._inflight[-1][0]), 30)
                self._settle(final=True)
                self._ship()
            consumer.close()
            tail.close()
            self._consumer = None

    def _idle(self, now: float) -> float:
        due = min((d.next_due() or now + 1.0 for d in self.dispatchers.values()), default=now + 1.0)
        return max(0.0, min(self.poll_interval, due - now))

    def _ingest(self, msg: Message, now: float) -> int:
        """1 when the alert was dispatched, 0 for a consume error, a revoked partition or a dead letter."""
        err = msg.error()
        if err is not None:
            if err.code() != KafkaError._PARTITION_EOF:
                log.warning("dispatch: consume error on %s: %s", self.names.alerts, err)
            return 0
        if self._holding.loading:  # a partition's state is still being read: its records wait (hold)
            assert self._consumer is not None
            if self._holding.hold(self._consumer, msg):
                return 0
        partition = msg.partition() or 0
        dispatcher = self.dispatchers.get(partition)
        if dispatcher is None:  # revoked within this batch
            return 0
        self._consumed[partition] = (msg.offset() or 0) + 1
        value = msg.value() or b""
        try:
            alert = Alert.from_envelope(Envelope.decode(value))
        except (EnvelopeError, ValueError) as exc:
            self._out.append(self._letters.letter(
                stage="dispatch", reason=str(exc), error_type=type(exc).__name__,
                origin=Origin(msg.topic() or self.names.alerts, partition, msg.offset() or 0, None), payload=value))
            return 0
        self._emit(dispatcher.ingest(alert, now))
        return 1

    def _tick(self, now: float) -> None:
        """Every dispatcher ticks every turn: a tick with no timer due costs a heap peek, and it is what tells a
        dispatcher that its idle groups' group_interval points up to `now` have passed (an alert for one of them
        waits for its next point, as it did when every group had a timer)."""
        for dispatcher in self.dispatchers.values():
            self._emit(dispatcher.tick(now))

    def _emit(self, notes: list[Any]) -> None:
        topic, spread = self.names.notifications, self.spread
        for note in notes:
            key = f"{note.receiver}/{note.group_id}".encode() if note.receiver in spread else note.kafka_key()
            self._out.append((topic, key, note.encode()))

    def _ship(self) -> None:
        """Send this round's notifications, then its merged state writes, as one batch with error-only delivery
        reports (an acknowledged record costs one produce() and no Python callback); remember the offsets they
        cover. The records are produced now, also while earlier batches wait for their acknowledgements (a
        round's notifications are not held back behind the previous round's), so a revocation's flush covers
        them; batches settle in order (`_settle`)."""
        if not (self._out or self._legacy or self._consumed or any(self._writes.values())):
            return
        state_topic = self.names.state("alerting")
        out, self._out = self._out, []
        out.extend(self._legacy)
        self._legacy = []
        for partition, writes in self._writes.items():
            prefix = _state_prefix(partition).encode()
            out.extend((state_topic, prefix + key, value) for key, value in writes.items())
        self._writes = {p: {} for p in self.dispatchers}
        consumed, self._consumed = self._consumed, {}
        if out:
            self._inflight.append((self.producer.start_batch(out), consumed))
        elif consumed and self._inflight:
            self._inflight[-1][1].update(consumed)  # committed with the batch still in flight
        elif consumed:
            self._commit(consumed, asynchronous=True)

    def _settle(self, *, final: bool = False) -> None:
        """Commit the offsets of every leading batch whose records the broker acknowledged."""
        offsets: dict[int, int] = {}
        while self._inflight and self._inflight[0][0].done():
            future, covered = self._inflight.popleft()
            failed = [o for o in future.result() if isinstance(o, DeliveryError)]
            if failed:
                raise failed[0]  # nothing of this batch is committed: the next owner reprocesses it
            offsets.update(covered)
        if offsets:
            self._commit(offsets, asynchronous=not final)
        if final and self._inflight:
            log.error("dispatch: %d batches unacknowledged at stop; their alerts are reprocessed at the next "
                      "start", len(self._inflight))

    def _commit(self, offsets: dict[int, int], *, asynchronous: bool) -> None:
        commit_owned(self._consumer, self.names.alerts, offsets, self.dispatchers,
                     asynchronous=asynchronous, stage="dispatch")

    # --- partitions coming and going (called inside consume(), on the event loop's thread)

    def _on_assign(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        """Take the partitions; their records are held until their state is read (in a thread: a large state
        must not block the event loop that also runs heartbeats and other agents). Not paused here: see
        LoadingPartitions."""
        if not partitions:
            return
        consumer.incremental_assign(partitions)
        self._holding.start(tp.partition for tp in partitions)
        self._loads.add(asyncio.get_running_loop().create_task(self._load(consumer, partitions)))

    async def _load(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        started = time.monotonic()
        stored, legacy = await asyncio.to_thread(self._read_state, sorted(tp.partition for tp in partitions))
        mine = [p for p in sorted(stored) if p in self._holding]  # not revoked meanwhile
        self._install(mine, stored, legacy)
        held = self._holding.release(consumer, mine, resume=self._consumer is consumer)
        if held:  # before anything newer of these partitions: no consume() runs until this task awaits again
            now = self.clock()
            if ok := sum(self._ingest(msg, now) for msg in held):
                self._ok.inc(ok)
        log.info("dispatch: assigned %s[%s] (%d state keys read in %.2f s)", self.names.alerts,
                 ",".join(map(str, mine)), sum(len(stored[p]) for p in mine), time.monotonic() - started)

    def _read_state(self, partitions: list[int]) -> tuple[dict[int, dict[str, bytes]], dict[str, bytes]]:
        """The stored state of these partitions (and the one-partition layout's keys when 0 is among them)."""
        stored: dict[int, dict[str, bytes]] = {p: {} for p in partitions}
        legacy: dict[str, bytes] = {}

        def on_record(key: bytes | None, value: bytes | None) -> None:
            owner, inner = _owner((key or b"").decode())
            bucket = (legacy if 0 in stored else None) if owner is None else stored.get(owner)
            if bucket is None:
                return
            if value is None:
                bucket.pop(inner, None)
            else:
                bucket[inner] = value

        scan(self.kafka.bootstrap, self.names.state("alerting"), on_record)
        return stored, legacy

    def _install(self, partitions: list[int], stored: dict[int, dict[str, bytes]], legacy: dict[str, bytes]) -> None:
        """A Dispatcher per partition over its stored state; legacy keys are rewritten under p0/."""
        state_topic = self.names.state("alerting")
        if 0 in partitions:
            for key, value in legacy.items():
                stored[0].setdefault(key, value)
                self._legacy.append((state_topic, key.encode(), None))
                self._legacy.append((state_topic, (_state_prefix(0) + key).encode(), value))
        for partition in partitions:
            values = {k: orjson.loads(v) for k, v in stored[partition].items()}
            self._writes.setdefault(partition, {})
            state = CompactedState(self._writer(partition), values)
            self.dispatchers[partition] = Dispatcher(self.routing, state, self.silences)

    def _on_revoke(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        revoked = sorted(tp.partition for tp in partitions)
        if not revoked:
            return
        # Make everything produced so far durable before the partition moves, so the next owner's state read
        # sees it. Offsets not yet committed are not committed here (the acknowledgements reach their futures
        # only on the next loop turn): the next owner re-ingests those alerts into the state they already
        # produced, which the notification log turns into no new notification.
        self._ship()
        left = self.producer.flush()
        if left:
            log.error("dispatch: %d records unacknowledged at revocation of %s", left, revoked)
        self._holding.drop(consumer, revoked)
        for partition in revoked:
            self._consumed.pop(partition, None)
            self.dispatchers.pop(partition, None)
            self._writes.pop(partition, None)
        log.info("dispatch: revoked %s[%s]", self.names.alerts, ",".join(map(str, revoked)))

    def _on_lost(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        lost = sorted(tp.partition for tp in partitions)
        self._holding.drop(consumer, lost)
        for partition in lost:
            self.dispatchers.pop(partition, None)
            self._writes.pop(partition, None)
        log.error("dispatch: lost %s[%s] (session timed out); their uncommitted alerts go to the next owner",
                  self.names.alerts, ",".join(map(str, lost)))

    def _writer(self, partition: int) -> Callable[[bytes, bytes | None], None]:
        def write(key: bytes, value: bytes | None) -> None:
            writes = self._writes.get(partition)
            if writes is not None:
                writes[key] = value
        return write

    # --- silences

    def _read_silences(self) -> TopicTail:
        """Apply every stored silence, then return a tail positioned right after them to follow the topic
        (also when the topic is only created later)."""
        topic = self.names.state("silences")
        result = scan(self.kafka.bootstrap, topic, self._apply_silence)
        return TopicTail(self.kafka.bootstrap, topic, result.end)

    def _follow(self, tail: TopicTail) -> None:
        for key, value in tail.poll(100):
            self._apply_silence(key, value)

    def _apply_silence(self, key: bytes | None, value: bytes | None) -> None:
        try:
            self.silences.apply(SilenceChange.from_record(key or b"", value))
        except (ValueError, TypeError) as exc:  # one unreadable record must not keep every silence off
            log.error("dispatch: silence log record %r skipped: %s", key, exc)


