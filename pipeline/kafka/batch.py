"""One confluent-kafka consumer-group member that hands its records to a handler a batch at a time.

Why not faust here: faust costs ~130 us per message per hop before any I/O; `consume(N)` costs under 2 us.
The loop is strictly sequential (consume -> handle -> commit -> consume), so a rebalance, which librdkafka only
runs inside `consume()`, never revokes a partition with records in flight: everything handled is committed
before the next call. Offsets are committed only after the handler returned, i.e. after the batch is durable
(the handler's contract); a crash re-reads at most the last uncommitted batch, which every sink behind this
path treats idempotently (by envelope id).

Assignment: `range` by default, so each member gets its share of every topic (partition p of all topics to
the same member); `cooperative-sticky` is available where moving only the partitions that must move matters
more than per-topic balance. Either way the sequential loop means a revocation finds nothing in flight.
`ConsumerProgress` holds, per assigned partition, the last progress time and
the committed / high-water offsets, for /healthz and stall detection.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Container, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from confluent_kafka import (
    OFFSET_INVALID,
    Consumer,
    ConsumerGroupTopicPartitions,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)
from confluent_kafka.admin import AdminClient
from pydantic import BaseModel, ConfigDict, Field

from pipeline.backoff import equal_jitter
from pipeline.logfilter import KAFKA_LOGGER

log = logging.getLogger(__name__)

Handler = Callable[[list[Message]], Awaitable[None]]


class ConsumeConfig(BaseModel):
    """How the batch consumers read (`worker.consume`)."""

    model_config = ConfigDict(extra="forbid")

    max_records: int = Field(2000, ge=1, le=100_000, description="records per batch (one consume() call)")
    max_wait_seconds: float = Field(0.25, gt=0, le=10,
                                    description="how long one call waits for a first record when nothing is "
                                                "fetched yet (records already fetched are handed on at once)")
    session_timeout_seconds: float = Field(10.0, ge=3, le=300,
                                           description="a process that stops heartbeating loses its partitions "
                                                       "to the others after this long")
    max_poll_interval_seconds: float = Field(300.0, ge=10, le=3600,
                                             description="the longest a batch may take (store outage retries "
                                                         "included) before the member is evicted")
    assignment: Literal["range", "cooperative-sticky"] = Field(
        "range", description="partition assignor. range (eager) gives every member its share of each topic, "
                             "partition p of all topics to one member; cooperative-sticky moves only the partitions "
                             "that must move but balances the total count only (measured: with exmail.events and "
                             "exmail.actions at 3 partitions each, one of two members got every events partition)")
    retry_initial_seconds: float = Field(0.5, gt=0)
    retry_max_seconds: float = Field(30.0, gt=0)


@dataclass(slots=True)
class PartitionProgress:
    """One assigned partition: when it last moved and how far it is."""

    topic: str
    partition: int
    assigned_at: float
    last_progress: float  # wall clock of the last commit (or the assignment)
    committed: int | None = None  # next offset to read, as committed by this member
    high_water: int | None = None  # the broker's end offset as last seen

    @property
    def lag(self) -> int | None:
        if self.high_water is None:
            return None
        return max(0, self.high_water - (self.committed or 0))


@dataclass
class ConsumerProgress:
    """Per-partition progress of one batch consumer; safe to read from any thread (copies under a lock)."""

    name: str
    group: str
    topics: tuple[str, ...]
    partitions: dict[tuple[str, int], PartitionProgress] = field(default_factory=dict)
    batches: int = 0
    records: int = 0
    last_batch_at: float | None = None
    last_error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def snapshot(self) -> list[PartitionProgress]:
        with self._lock:
            return [PartitionProgress(p.topic, p.partition, p.assigned_at, p.last_progress, p.committed,
                                      p.high_water) for p in self.partitions.values()]

    def stalled(self, after_seconds: float, now: float | None = None) -> list[PartitionProgress]:
        """Assigned partitions with records left to read and no progress for `after_seconds`."""
        t = time.time() if now is None else now
        return [p for p in self.snapshot() if (p.lag or 0) > 0 and t - p.last_progress > after_seconds]

    def assignment(self) -> list[tuple[str, int]]:
        """(topic, partition) owned now: what the lag and stall monitor watches."""
        with self._lock:
            return list(self.partitions)

    def _assigned(self, tps: Sequence[TopicPartition]) -> None:
        now = time.time()
        with self._lock:
            for tp in tps:
                self.partitions[(tp.topic, tp.partition)] = PartitionProgress(tp.topic, tp.partition, now, now)

    def _revoked(self, tps: Sequence[TopicPartition]) -> None:
        with self._lock:
            for tp in tps:
                self.partitions.pop((tp.topic, tp.partition), None)

    def _committed(self, offsets: dict[tuple[str, int], int], records: int) -> None:
        now = time.time()
        with self._lock:
            for key, offset in offsets.items():
                p = self.partitions.get(key)
                if p is not None:
                    p.committed = offset
                    p.last_progress = now
            self.batches += 1
            self.records += records
            self.last_batch_at = now

    def _marks(self, marks: dict[tuple[str, int], tuple[int | None, int | None]]) -> None:
        with self._lock:
            for key, (committed, high) in marks.items():
                p = self.partitions.get(key)
                if p is None:
                    continue
                if committed is not None and p.committed is None:
                    p.committed = committed
                if high is not None:
                    p.high_water = high


def legacy_positions(name: str, bootstrap: str, consumer: Consumer, tps: list[TopicPartition],
                     legacy_group: str) -> int:
    """Partitions the consumer's group never committed start where the legacy group (the faust agents' group
    before the unit became a consumer group of its own) got to, instead of at the earliest retained record; sets
    tp.offset and returns how many moved."""
    try:
        mine = {(tp.topic, tp.partition): tp.offset for tp in consumer.committed(tps, timeout=10)}
        fresh = [tp for tp in tps if mine.get((tp.topic, tp.partition), OFFSET_INVALID) < 0]
        if not fresh:
            return 0
        admin = AdminClient({"bootstrap.servers": bootstrap})
        request = ConsumerGroupTopicPartitions(legacy_group, [TopicPartition(t.topic, t.partition) for t in fresh])
        result = admin.list_consumer_group_offsets([request], request_timeout=10)[legacy_group].result()
    except Exception as exc:  # no legacy group, broker busy: start as a new group would
        log.warning("%s: legacy offsets of group %s not read (%s)", name, legacy_group, exc)
        return 0
    legacy = {(tp.topic, tp.partition): tp.offset for tp in result.topic_partitions if tp.offset >= 0}
    moved = 0
    for tp in fresh:
        offset = legacy.get((tp.topic, tp.partition))
        if offset is not None:
            tp.offset = offset
            moved += 1
    if moved:
        log.info("%s: %d partitions start at the offsets committed by group %s", name, moved, legacy_group)
    return moved


def commit_owned(consumer: Consumer | None, topic: str, offsets: dict[int, int], owned: Container[int], *,
                 asynchronous: bool, stage: str) -> None:
    """Commit `offsets` (partition -> next offset) of the partitions this process still owns. A commit lost to a
    rebalance is only logged: the next owner reprocesses from the last commit, and the stages dedup."""
    tps = [TopicPartition(topic, p, o) for p, o in offsets.items() if p in owned]
    if consumer is None or not tps:
        return
    try:
        if asynchronous:  # (two calls: the client's type stubs overload on the literal)
            consumer.commit(offsets=tps, asynchronous=True)
        else:
            consumer.commit(offsets=tps, asynchronous=False)
    except Exception as exc:
        log.warning("%s: commit of %s failed: %s", stage, tps, exc)


class BatchRamp:
    """How many records the next `consume()` of a latency-sensitive loop takes (dispatch, delivery).

    Those loops handle a whole batch before its results go downstream, so after a quiet spell the first batch
    of a burst would hold everything behind it: a 1,000-alert batch is ~75 ms of dispatch work while the
    delivery process, and the second core, wait. After an empty poll the batches start at `first` and double
    with every full batch up to `limit`: the first notifications of a burst leave within milliseconds, and a
    sustained stream is back at full batches after a few turns (a handful of extra produce batches per burst).
    """

    __slots__ = ("first", "limit", "size")

    def __init__(self, limit: int, first: int = 50) -> None:
        if limit < 1 or first < 1:
            raise ValueError("batch sizes must be at least 1")
        self.limit = limit
        self.first = min(first, limit)
        self.size = self.first

    def took(self, count: int) -> None:
        """Record how many records the last consume() returned."""
        if count == 0:
            self.size = self.first
        elif count >= self.size:
            self.size = min(self.limit, self.size * 2)


class LoadingPartitions:
    """Partitions assigned to a stage whose state is still being read: their records are held, in arrival order,
    until the stage `release`s them, instead of pausing the partitions at assignment.

    Why not pause in the rebalance callback: librdkafka starts a partition's fetcher with an op whose version
    barrier an application pause taken at the same moment can make outdated, and the fetcher is then never started:
    the partition stays assigned, fetches nothing and says nothing (librdkafka#2190, #5591). It happened in one of
    ten fresh-clone demos: dispatch took partition 0 of exmail.alerts at start-up and never read it. Here a
    partition is paused only when its first record arrives (its fetcher is running then), so the pause cannot race
    the start; the records already handed over are held and go first when the state is read.

    librdkafka keeps an application pause across a reassignment, so a partition paused here is resumed when it is
    released or dropped (revoked, lost): assigned again later, it fetches."""

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.loading: set[int] = set()
        self._held: dict[int, list[Message]] = {}

    def __contains__(self, partition: object) -> bool:
        return partition in self.loading

    def start(self, partitions: Iterable[int]) -> None:
        self.loading.update(partitions)

    def hold(self, consumer: Consumer, msg: Message) -> bool:
        """True when `msg`'s partition is loading: the record is kept, and the partition paused at its first."""
        partition = msg.partition() or 0
        if partition not in self.loading:
            return False
        held = self._held.get(partition)
        if held is None:
            self._held[partition] = [msg]
            consumer.pause([TopicPartition(self.topic, partition)])
        else:
            held.append(msg)
        return True

    def release(self, consumer: Consumer, partitions: Iterable[int], *, resume: bool = True) -> list[Message]:
        """The state of `partitions` is read: their held records, oldest first, to handle before anything newer
        (no later record of theirs arrives before the caller's next consume). The paused ones resume unless
        `resume` is False (a caller that keeps its intake paused resumes them itself)."""
        held, paused = self._take_out(sorted(partitions))
        if paused and resume:
            consumer.resume(paused)
        return held

    def drop(self, consumer: Consumer | None, partitions: Iterable[int]) -> int:
        """Revoked or lost: forget them and their held records (uncommitted, so the next owner reads them again);
        returns how many records were dropped."""
        held, paused = self._take_out(partitions)
        if paused and consumer is not None:
            with contextlib.suppress(KafkaException):  # already gone from the assignment: nothing to undo
                consumer.resume(paused)
        return len(held)

    def _take_out(self, partitions: Iterable[int]) -> tuple[list[Message], list[TopicPartition]]:
        """The partitions no longer loading: their held records, and the partitions those paused."""
        out: list[Message] = []
        paused: list[TopicPartition] = []
        for partition in partitions:
            self.loading.discard(partition)
            held = self._held.pop(partition, None)
            if held:
                out.extend(held)
                paused.append(TopicPartition(self.topic, partition))
        return out, paused


def _tp_list(tps: Sequence[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]" for tp in tps) or "-"


class BatchConsumer:
    """`await consumer.run(handler)` until `stop()`; the handler gets each batch as a list of messages (errors
    already removed) and must return only once the batch is durable, or raise (the batch is then re-read from
    its first offsets after a backoff, and the failure is logged)."""

    def __init__(self, name: str, bootstrap: str, group: str, topics: Sequence[str], config: ConsumeConfig,
                 *, legacy_group: str | None = None, **overrides: Any) -> None:
        self.name = name
        self.group = group
        self.legacy_group = legacy_group
        self._bootstrap = bootstrap
        self.topics = tuple(topics)
        self.config = config
        self.progress = ConsumerProgress(name, group, self.topics)
        self._conf: dict[str, Any] = {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "client.id": f"exmail-{name}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "partition.assignment.strategy": config.assignment,
            "session.timeout.ms": int(config.session_timeout_seconds * 1000),
            "heartbeat.interval.ms": max(500, int(config.session_timeout_seconds * 100)),
            "max.poll.interval.ms": int(config.max_poll_interval_seconds * 1000),
            "fetch.min.bytes": 1,
            "fetch.wait.max.ms": 100,
            "queued.max.messages.kbytes": 65536,
            "log_level": 3,
            "logger": KAFKA_LOGGER,  # through the connection-log limiter, not a stderr line per reconnect attempt
            "error_cb": self._on_error,
            **overrides,
        }
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"consume-{name}")
        self._consumer: Consumer | None = None
        self._stopping = False
        self._last_marks = 0.0

    def __repr__(self) -> str:
        return f"BatchConsumer(name={self.name!r}, group={self.group!r})"

    # ------------------------------------------------------------------ librdkafka callbacks (consumer thread)

    def _on_error(self, err: KafkaError) -> None:
        """Through the connection-log limiter (this logger is one of its LIMITED_LOGGERS): one line per kind
        of error when it starts, then a summary a minute while the broker stays away."""
        level = logging.ERROR if err.fatal() else logging.WARNING
        # the error's name in the template: the limiter keys on it, so a new kind of error still passes at once
        log.log(level, "%s: kafka client error " + err.name() + ": %s", self.name, err)

    def _on_assign(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        self.progress._assigned(tps)
        log.info("%s: assigned %s (group %s)", self.name, _tp_list(tps), self.group)
        if self.legacy_group and tps:
            moved = self._legacy_positions(consumer, tps)
            if moved:
                if self.config.assignment == "cooperative-sticky":
                    consumer.incremental_assign(tps)
                else:
                    consumer.assign(tps)

    def _legacy_positions(self, consumer: Consumer, tps: list[TopicPartition]) -> int:
        assert self.legacy_group is not None
        return legacy_positions(self.name, self._bootstrap, consumer, tps, self.legacy_group)

    def _on_revoke(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        self.progress._revoked(tps)
        log.info("%s: revoked %s (group %s)", self.name, _tp_list(tps), self.group)

    def _on_lost(self, consumer: Consumer, tps: list[TopicPartition]) -> None:
        self.progress._revoked(tps)
        log.warning("%s: lost %s (session expired; another member owns them now)", self.name, _tp_list(tps))

    # ------------------------------------------------------------------ blocking calls (consumer thread)

    def _open(self) -> None:
        consumer = Consumer(self._conf)
        consumer.subscribe(list(self.topics), on_assign=self._on_assign, on_revoke=self._on_revoke,
                           on_lost=self._on_lost)
        self._consumer = consumer

    def _consume(self) -> list[Message]:
        """What is already fetched, at once; only when nothing is, wait up to max_wait for the first record and
        take what arrived with it. consume(N, timeout) would hold every batch of an idle stream for the whole
        timeout (measured: +130 ms p50 on the raw -> event hop); a busy stream still gets full batches."""
        assert self._consumer is not None
        limit = self.config.max_records
        msgs = self._consumer.consume(limit, 0)
        if not msgs:
            first = self._consumer.poll(self.config.max_wait_seconds)
            if first is not None:
                msgs = [first, *(self._consumer.consume(limit - 1, 0) if limit > 1 else [])]
        if time.monotonic() - self._last_marks > 2.0:
            self._refresh_marks()
        return msgs

    def _refresh_marks(self) -> None:
        """Cached high watermarks (from fetch responses, no broker round trip) and, once, committed offsets."""
        assert self._consumer is not None
        self._last_marks = time.monotonic()
        try:
            assignment = self._consumer.assignment()
        except KafkaException:
            return
        known = {(p.topic, p.partition): p.committed for p in self.progress.snapshot()}
        unknown = [tp for tp in assignment if known.get((tp.topic, tp.partition)) is None]
        committed: dict[tuple[str, int], int | None] = {}
        if unknown:
            with contextlib.suppress(KafkaException):
                for tp in self._consumer.committed(unknown, timeout=5):
                    committed[(tp.topic, tp.partition)] = None if tp.offset == OFFSET_INVALID else tp.offset
        marks: dict[tuple[str, int], tuple[int | None, int | None]] = {}
        for tp in assignment:
            high: int | None = None
            with contextlib.suppress(KafkaException):
                _low, hw = self._consumer.get_watermark_offsets(tp, cached=True)
                high = hw if hw >= 0 else None
            marks[(tp.topic, tp.partition)] = (committed.get((tp.topic, tp.partition)), high)
        self.progress._marks(marks)

    def _commit(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self._consumer is not None
        self._consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                              asynchronous=False)

    def _seek(self, offsets: dict[tuple[str, int], int]) -> None:
        assert self._consumer is not None
        for (t, p), o in offsets.items():
            with contextlib.suppress(KafkaException):  # no longer ours: the new owner reads from the commit
                self._consumer.seek(TopicPartition(t, p, o))

    def _close(self) -> None:
        if self._consumer is not None:
            with contextlib.suppress(Exception):
                self._consumer.close()  # leaves the group now, so the others take over at once
            self._consumer = None

    # ------------------------------------------------------------------ the loop (event loop)

    async def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, *args)

    async def run(self, handler: Handler) -> None:
        await self._call(self._open)
        log.info("%s: consuming %s as group %s", self.name, ", ".join(self.topics), self.group)
        failures = 0
        try:
            while not self._stopping:
                msgs = await self._call(self._consume)
                batch = self._usable(msgs)
                if not batch:
                    continue
                first: dict[tuple[str, int], int] = {}
                nxt: dict[tuple[str, int], int] = {}
                for m in batch:
                    key = (m.topic() or "", m.partition() or 0)
                    offset = m.offset() or 0
                    first.setdefault(key, offset)
                    nxt[key] = offset + 1
                try:
                    await handler(batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    failures += 1
                    self.progress.last_error = f"{type(exc).__name__}: {exc}"[:500]
                    delay = equal_jitter(failures, self.config.retry_initial_seconds, self.config.retry_max_seconds)
                    log.exception("%s: batch of %d records failed (attempt %d); re-reading it in %.1fs",
                                  self.name, len(batch), failures, delay)
                    await self._call(self._seek, first)
                    await asyncio.sleep(delay)
                    continue
                failures = 0
                try:
                    await self._call(self._commit, nxt)
                except KafkaException as exc:
                    # typically a rebalance moved the partition: its new owner re-reads from the last commit,
                    # and the sinks drop the repeats by id
                    self.progress.last_error = f"commit failed: {exc}"[:500]
                    log.error("%s: offset commit failed (%s); those records will be read again", self.name, exc)
                    continue
                self.progress._committed(nxt, len(batch))
        finally:
            await self._call(self._close)
            self._executor.shutdown(wait=False)

    def _usable(self, msgs: list[Message]) -> list[Message]:
        out = []
        for m in msgs:
            err = m.error()
            if err is None:
                out.append(m)
            elif err.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: consume error on %s[%s]: %s", self.name, m.topic(), m.partition(), err)
        return out

    def describe(self) -> dict[str, Any]:
        """The consumer's own account, logged by the stall monitor next to the broker's view."""
        p = self.progress
        age = None if p.last_batch_at is None else round(time.time() - p.last_batch_at, 1)
        return {"batches": p.batches, "records": p.records, "seconds_since_last_batch": age,
                "last_error": p.last_error, "stopping": self._stopping,
                "partitions": [(q.topic, q.partition, q.committed, q.high_water) for q in p.snapshot()]}

    def stop(self) -> None:
        """Finish the batch in hand, commit it, leave the group."""
        self._stopping = True
